"""The JAX target: a ``jax.custom_jvp`` whose rule is the proved tangent formula.

JAX derives reverse mode from forward mode by linearising and transposing, so a
``custom_jvp`` serves ``jvp``, ``grad``, ``vjp`` and any order of them.  The rule
computes ẏ by the tangent formula of :mod:`symbn.emit.tangents`: the transpose of
the certified gradients, itself proved (Σ dy·ẏ = Σ_k ⟨θ̄_k, θ̇_k⟩ for every N)
before anything is printed.  Second derivatives are JAX's derivatives of the
rule, which is the proved formula written in ``jax.numpy``.  ``forward(...)``
returns y as a JAX array.
"""

from __future__ import annotations

from symbn.emit.certify import certify
from symbn.emit.common import constants, helpers, signature
from symbn.emit.plan import Plan
from symbn.emit.tangents import certify_jvp, tangent_names, transpose
from symbn.emit.targets import jax_runtime
from symbn.emit.targets.arrays import Arrays
from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.derivation import Layer
from symbn.lang.expr import names as free_names
from symbn.lang.expr import parse


def emit(layer: Layer, time_limit: float | None = 60.0) -> str:
    """The JAX module's source; raises NotCertified before printing anything."""
    certified = certify(layer, time_limit)
    plan = Plan(layer, {w: t for w, (t, _) in certified.items()})
    dots = tangent_names(layer)
    tangent = transpose(layer, plan.texts(), dots)
    certify_jvp(layer, tangent, dots, time_limit)
    a = Arrays(layer, "jnp")
    inputs = [n for n, i in layer.inputs.items() if i.kind != CONSTANT]
    consts = [n for n, i in layer.inputs.items() if i.kind == CONSTANT]
    parts = [
        _docstring(layer, plan, tangent),
        "import functools\n\nimport jax\nimport jax.numpy as jnp",
        constants(layer, plan) + f"\nTANGENT = {tangent!r}",
        helpers(jax_runtime, ("import jax.numpy as jnp\n",)),
        _functions(layer, plan, a, inputs, consts, dots, tangent),
    ]
    return "\n\n\n".join(p.strip("\n") for p in parts) + "\n"


def _setup(layer: Layer, inputs: list[str], dots: dict[str, str] | None = None) -> list[str]:
    """Dtypes, N, the inputs (and their tangents) placed for broadcasting."""
    data = next(n for n in inputs if layer.inputs[n].kind == ROW)
    lines = [f"result, work = _types({', '.join(inputs)})", *(f"{n} = {n}.astype(work)" for n in inputs),
             f"shape = {data}.shape", "kept = tuple(k for k in range(len(shape)) if k not in axes)",
             "n = float(_count(shape, axes))"]
    lines += [f"{dots[n]} = {dots[n]}.astype(work)" for n in inputs] if dots else []
    for name in inputs:
        home = "axes" if layer.inputs[name].kind == ROW else "kept"
        if name != data:
            lines += [f"{v} = _place({v}, shape, {home})" for v in [name, *([dots[name]] if dots else [])]]
    return lines


def _functions(layer: Layer, plan: Plan, a: Arrays, inputs, consts, dots, tangent: str) -> str:
    out = layer.graph.output
    expr = parse(tangent)
    stages = plan.closure({out} | (free_names(expr) & set(layer.graph.stages)))
    args = ", ".join(inputs + consts)
    primal = [*_setup(layer, inputs), *a.stages(plan.closure({out})), f"return {out}.astype(result)"]
    rule = [f"{', '.join(inputs)}, = primals", f"{', '.join(dots[n] for n in inputs)}, = tangents",
            *_setup(layer, inputs, dots), *a.stages(stages),
            f"{out}_dot = jnp.broadcast_to({a.expr(expr)}, shape)",
            f"return {out}.astype(result), {out}_dot.astype(result)"]
    nondiff = tuple(range(len(inputs), len(inputs) + len(consts) + 1))
    data = next(n for n in inputs if layer.inputs[n].kind == ROW)
    public = [*(f"{n} = jnp.asarray({n})" for n in inputs), f"axes = _axes({data}.ndim, axis)",
              f"return _layer({', '.join(inputs)}{''.join(f', float({c})' for c in consts)}, axes)"]
    doc = f'    """{layer.title or layer.name}: y as a JAX array, differentiable by the proved tangent formula."""'
    return "\n".join([
        f"@functools.partial(jax.custom_jvp, nondiff_argnums={nondiff!r})",
        f"def _layer({args}, axes):",
        '    """The stages as the file writes them."""',
        *("    " + line for line in primal), "", "",
        "@_layer.defjvp",
        f"def _layer_jvp({''.join(c + ', ' for c in consts)}axes, primals, tangents):",
        '    """y and its tangent, by the proved formula TANGENT."""',
        *("    " + line for line in rule), "", "",
        f"def forward({signature(layer, '', 'axis=0')}):", doc,
        *("    " + line for line in public),
    ])


def _docstring(layer: Layer, plan: Plan, tangent: str) -> str:
    from symbn.version import __version__

    stages = "\n".join(f"    {layer.stage_text[s]}" for s in layer.graph.stages)
    grads = "\n".join(f"    d{w} = {t}" for w, t in plan.texts().items())
    return f'''"""{layer.title or layer.name}: a JAX function with a proved custom_jvp.

Emitted by symbn {__version__} from {layer.path}.  Do not edit: re-emit.

Forward (the stages of the file):

{stages}

Tangent (the custom_jvp rule; <name>_dot is the tangent of <name>):

    y_dot = {tangent}

It is the transpose of the gradients below, each proved equal to reverse mode for
every slice size N, and was itself proved (the sum of dy*y_dot over the slice
equals the sum of each gradient times its input's tangent, for every N) before
this module was written.  JAX transposes it for grad and vjp.

{grads}

The slice is the reduced axis (an int or a tuple); shapes follow the NumPy
module's rules.  float64 needs jax.config.update("jax_enable_x64", True).
"""'''


__all__ = ["emit"]
