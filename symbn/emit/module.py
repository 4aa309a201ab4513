"""Emit a self-contained NumPy module that computes exactly the proved gradient.

Certification comes first: for each differentiable input, the file's closed form
and its fast form (:mod:`symbn.rearrange`) are both checked against reverse mode
with :func:`symbn.prove.check_formula`, for every N.  Anything not ``proved``
raises :class:`NotCertified` and nothing is printed.  The code is then printed
(:mod:`symbn.npprint`) from the *parsed certified text*, so the module evaluates
exactly the formula that was proved.

The module has ``forward(<inputs>, *, <constants>, axis=0, return_saved=False)``
and ``backward(dy, <inputs>, *, <constants>, axis=0, saved=None, out=None)``.
Shapes: the slice is the reduced ``axis`` (an int or a tuple) of the data (the
first row input).  Scalar-kind inputs are per-slice values: an array of the kept
axes' shape is put on the kept axes (BatchNorm gamma (C,) for (N, C, H, W) with
``axis=(0, 2, 3)``); row-kind inputs other than the data live on the reduced axes
(LayerNorm gamma (D,) with ``axis=-1``); any other shape broadcasts by NumPy's
rules.  A gradient has its input's shape: it is summed over every axis the input
was broadcast along (the reduced axes for BatchNorm gamma, the batch for
LayerNorm gamma), the frameworks' convention.
"""

from __future__ import annotations

import inspect
import textwrap
import types

from symbn.emit import runtime as emit_runtime
from symbn.emit.printer import Printer, Unfoldable, centrings, number
from symbn.emit.rearrange import fast_forms
from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.derivation import Layer
from symbn.lang.expr import names, parse
from symbn.proof.prover import PROVED, Prover, Result, check_formula

# names the emitted functions use for themselves: a stage or input may not take one
RESERVED = {"np", "n", "axes", "kept", "kshape", "dtype", "result", "shape", "out", "saved", "axis", "return_saved",
            "forward", "backward", "LAYER", "INPUTS", "GRADIENTS", "SAVED", "FORMULAS"}


class NotCertified(Exception):
    """A formula the emitter would print is not proved equal to reverse mode.
    ``verdict``: "refuted", "unknown", or "missing" (no closed form, or a name the
    emitted code needs), for the CLI's exit status (1, 3, 2)."""

    def __init__(self, message: str, verdict: str = "missing"):
        super().__init__(message)
        self.verdict = verdict


def certify(layer: Layer, time_limit: float | None = 60.0) -> dict[str, tuple[str, Result]]:
    """For each differentiable input: the fast form and its proof, after the closed
    form it came from has been proved too.  Raises :class:`NotCertified`."""
    missing = [w for w in layer.differentiable if w not in layer.closed_form]
    if missing:
        raise NotCertified(f"{layer.path}: no closed form for {', '.join(missing)}; the emitter prints only proved formulas")
    prover = Prover(layer)
    forms = fast_forms(layer)
    out = {}
    for wrt in layer.differentiable:
        closed = layer.closed_form[wrt]
        proof = check_formula(layer, wrt, closed, label="closed_form", time_limit=time_limit, prover=prover)
        _require(layer, wrt, closed.text, "closed form", proof)
        emitted = layer.formula(forms[wrt], f"emitted.{wrt}")
        result = check_formula(layer, wrt, emitted, label="emitted", time_limit=time_limit, prover=prover)
        out[wrt] = (forms[wrt], _require(layer, wrt, forms[wrt], "emitted formula", result))
    return out


def _require(layer: Layer, wrt: str, text: str, what: str, result: Result) -> Result:
    if result.verdict != PROVED:
        why = f"refuted at {result.counterexample}" if result.counterexample else result.detail or result.verdict
        message = f"{layer.path}: the {what} of d{wrt}, {text!r}, is not proved for every N ({why}); nothing was emitted"
        raise NotCertified(message, result.verdict)
    return result


# --- what the backward pass needs ---------------------------------------------------------


class Plan:
    """Which stages the backward pass reads, which scalar stages it saves, and the
    equations that compute them (from the inputs, or from the saved scalars)."""

    def __init__(self, layer: Layer, formulas: dict[str, str]):
        graph = layer.graph
        self.layer, self.graph = layer, graph
        clash = sorted(RESERVED & ({*layer.inputs, *graph.stages} | {"d" + w for w in layer.differentiable}))
        if clash:
            raise NotCertified(f"{layer.path}: the name {clash[0]!r} is used by the emitted code; rename it in the file")
        rows = [n for n, i in layer.inputs.items() if i.kind == ROW]
        if not rows:
            raise NotCertified(f"{layer.path}: no row input: the emitter needs the data the slice is taken from")
        self.data = rows[0]
        self.formulas = {w: parse(t) for w, t in formulas.items()}
        self.deps = {s: {a for e in graph.stage_eqns(s) for a in e.args if isinstance(a, str) and a in graph.stages}
                     for s in graph.stages}
        read = set().union(*(names(e) for e in self.formulas.values())) & set(graph.stages)
        self.rows, self.saved = set(), set()
        todo = list(read)
        while todo:
            s = todo.pop()
            if graph.kinds[s] != ROW:
                self.saved.add(s)
            elif s not in self.rows:
                self.rows.add(s)
                todo.extend(self.deps[s])
        self.saved_order = tuple(s for s in graph.stages if s in self.saved)

    def closure(self, targets: set[str]) -> set[str]:
        out, todo = set(), list(targets)
        while todo:
            s = todo.pop()
            if s not in out:
                out.add(s)
                todo.extend(self.deps[s])
        return out

    def eqns(self, stages: set[str]):
        return tuple(e for e in self.graph.eqns if e.stage in stages)


# --- the module -----------------------------------------------------------------------------


def emit_module(layer: Layer, time_limit: float | None = 60.0) -> str:
    """The NumPy module's source.  Raises :class:`NotCertified` before printing
    anything if a formula is not proved."""
    return _emit(layer, time_limit)[0]


def _emit(layer: Layer, time_limit: float | None) -> tuple[str, types.CodeType]:
    """The module's source and its compiled code: a printer bug fails here, not in the user's import."""
    certified = certify(layer, time_limit)
    plan = Plan(layer, {w: t for w, (t, _) in certified.items()})
    try:
        backward, folded = _backward(plan, fold=True)
    except Unfoldable:
        backward, folded = _backward(plan, fold=False)
    parts = [
        _docstring(layer, plan, certified, folded),
        "import numpy as np",
        _constants(layer, plan),
        _runtime(),
        _forward(plan),
        backward,
    ]
    source = "\n\n\n".join(p.strip("\n") for p in parts) + "\n"
    return source, compile(source, f"<symbn emit {layer.path}>", "exec")


def load_module(layer: Layer, time_limit: float | None = 60.0) -> types.ModuleType:
    """The emitted module, executed into a fresh module object (our own code)."""
    source, code = _emit(layer, time_limit)
    module = types.ModuleType(f"symbn_emitted_{layer.name}")
    module.__file__ = code.co_filename
    exec(code, module.__dict__)  # noqa: S102 - our own printed code
    module.SOURCE = source
    return module


def _docstring(layer: Layer, plan: Plan, certified, folded: bool) -> str:
    from symbn.version import __version__

    stages = "\n".join(f"    {layer.stage_text[s]}" for s in layer.graph.stages)
    centred = centrings(plan.graph.eqns, {n for n, i in layer.inputs.items() if i.kind == ROW})
    rounding = ""
    if centred:
        d, m = next(iter(centred.items()))
        x = next(e.args[0] for e in plan.graph.eqns if e.out == m)
        mean = m if not m.temp else f"mean({x})"
        how = ("The forward subtracts c from the centred values in place; the backward keeps them as computed and "
               "subtracts c where they are read (in the sums over the slice and the gradients' constant terms)."
               if d in folded else "The forward and the backward subtract c from the centred values in place.")
        saved = ("" if m not in plan.saved else
                 f" The forward saves {m} + c exactly (float64). The backward given it splits it into {m} in the "
                 "data's dtype and c again; given a mean no wider than the data (a framework's float32 mean), it "
                 "measures c itself.")
        text = (f"In float16/float32 a mean such as {mean} is rounded, by a few units in its last place after a "
                f"long sum, and that is much of the spread of data with a large mean. So the code also takes c, "
                f"the small mean left in {x} - {mean}: {mean} + c is the mean to rounding, and other reads of "
                f"{mean} use it. {how}{saved} This changes rounding only, not the formulas.")
        rounding = "\n" + textwrap.fill(text, 84) + "\n"
    grads = "\n".join(f"    d{w} = {t}" for w, (t, _) in certified.items())
    closed = "\n".join(f"    d{w} = {f.text}" for w, f in layer.closed_form.items())
    return f'''"""{layer.title or layer.name}: forward and backward in NumPy.

Emitted by symbn {__version__} from {layer.path}.  Do not edit: re-emit.

Forward (the stages of the file; statistics are two-pass as written):

{stages}
{rounding}
Backward: these formulas are what the code computes; each was proved equal to
reverse mode for every slice size N before this module was written, as was the
closed form of the file it was rearranged from.

{grads}

Closed forms of the file:

{closed}

The slice is the reduced ``axis`` (int or tuple) of {plan.data}.  Scalar-kind inputs
are per-slice values: an array of the kept axes' shape is put on the kept axes,
e.g. shape (C,) for (N, C, H, W) with axis=(0, 2, 3).  Row-kind inputs other than
{plan.data} of the reduced axes' shape are put on the reduced axes.  Any other shape
broadcasts by NumPy's rules.  Each gradient has its input's shape, summed over
the axes that input was broadcast along.
"""'''


def _constants(layer: Layer, plan: Plan) -> str:
    grads = tuple("d" + w for w in layer.differentiable)
    formulas = {"d" + w: t for w, t in fast_forms_text(plan).items()}
    return "\n".join([
        f"LAYER = {layer.name!r}",
        f"INPUTS = {tuple(layer.inputs)!r}",
        f"GRADIENTS = {grads!r}",
        f"SAVED = {plan.saved_order!r}",
        f"FORMULAS = {formulas!r}",
    ])


def fast_forms_text(plan: Plan) -> dict[str, str]:
    from symbn.lang.expr import to_text

    return {w: to_text(e) for w, e in plan.formulas.items()}


def _runtime() -> str:
    source = inspect.getsource(emit_runtime)
    body = source.split('"""', 2)[2]  # drop the module docstring
    return body.replace("import numpy as np\n", "", 1).strip("\n")


def _signature(layer: Layer, first: str, tail: str) -> str:
    args = [first] if first else []
    args += [n for n, i in layer.inputs.items() if i.kind != CONSTANT]
    consts = [f"{n}={number(i.default)}" if i.default is not None else n for n, i in layer.inputs.items() if i.kind == CONSTANT]
    return ", ".join(args + ["*"] + consts + [tail])


def _preamble(p: Printer, plan: Plan, backward: bool) -> dict[str, str]:
    """Common dtype, the data's shape and axes, inputs placed for broadcasting.
    Returns, for the backward pass, each input's original-shape variable."""
    layer = plan.layer
    arrays = (["dy"] if backward else []) + [n for n, i in layer.inputs.items() if i.kind != CONSTANT]
    p.emit(f"result = _result({', '.join(arrays)})")
    p.emit("dtype = _work(result)")
    p.emit(f"{plan.data} = np.asarray({plan.data}, dtype)")
    p.emit(f"shape = {plan.data}.shape")
    p.emit(f"axes = _axes({plan.data}.ndim, axis)")
    p.emit(f"kept = tuple(k for k in range({plan.data}.ndim) if k not in axes)")
    p.emit("n = int(np.prod([shape[k] for k in axes]))")
    if backward:
        p.emit("kshape = tuple(1 if k in axes else s for k, s in enumerate(shape))")
        p.emit("dy = np.asarray(dy, dtype)")
        if layer.output_kind == ROW:
            p.emit("if dy.shape != shape:")
            p.emit(f"    raise ValueError(f'dy has shape {{dy.shape}}; it must have the shape of {plan.data}, {{shape}}')")
    shapes = {}
    for name, i in layer.inputs.items():
        if i.kind == CONSTANT or name == plan.data:
            continue
        if backward:
            shapes[name] = p.fresh(f"{name}_shape")
            p.emit(f"{shapes[name]} = np.shape({name})")
        home = "kept" if i.kind != ROW else "axes"
        p.emit(f"{name} = _place(np.asarray({name}, dtype), shape, {home})")
    return shapes


def _printer(plan: Plan, fold: bool = False) -> Printer:
    layer = plan.layer
    kinds = {**{e.out: e.out.kind for e in layer.graph.eqns}, **layer.graph.kinds, "dy": layer.output_kind}
    rows = [n for n, i in layer.inputs.items() if i.kind == ROW]
    return Printer(kinds, plan.data, rows, RESERVED | set(layer.inputs), fold=fold)


def _forward(plan: Plan) -> str:
    layer, graph = plan.layer, plan.graph
    p = _printer(plan)
    _preamble(p, plan, backward=False)
    stages = plan.closure({graph.output} | plan.saved)
    p.equations(plan.eqns(stages), {graph.output} | plan.saved)
    saved = ", ".join(f"{s!r}: _exact({s}, {p.given[s]})" if s in p.given else f"{s!r}: {s}" for s in plan.saved_order)
    p.emit("if return_saved:")
    p.emit(f"    return _as(result, {graph.output}), {{{saved}}}")
    p.emit(f"return _as(result, {graph.output})")
    doc = [f'"""{layer.title or layer.name}, forward: returns {graph.output}, or ({graph.output}, saved) with',
           f"saved = {{{', '.join(repr(s) + ': ...' for s in plan.saved_order)}}}, the per-slice stages",
           "backward needs (keepdims arrays).  A mean the data are centred by is saved",
           "exact: in float64 for float16/float32 data.", "", *[f"    {layer.stage_text[s]}" for s in graph.stages], '"""']
    head = f"def forward({_signature(layer, '', 'axis=0, return_saved=False')}):"
    return "\n".join([head, *("    " + d if d else "" for d in doc), *p.lines])


def _backward(plan: Plan, fold: bool) -> tuple[str, set[str]]:
    """The backward function, and the centred stages whose offset it folds.
    ``fold``: centring offsets are folded into what reads the centred stage
    (raises :class:`Unfoldable` when a read is not covered)."""
    layer = plan.layer
    p = _printer(plan, fold)
    shapes = _preamble(p, plan, backward=True)
    keep = plan.rows | plan.saved | {"dy"}
    p.emit("if saved is None:")
    p.depth += 1
    start = len(p.lines)
    p.equations(plan.eqns(plan.closure(plan.rows | plan.saved)), keep)
    if len(p.lines) == start:  # nothing to compute: the gradients read the inputs only
        p.emit("pass")
    owned, full = set(p.owned), set(p.full)
    p.depth -= 1
    p.emit("else:")
    p.depth += 1
    p.owned = set()
    for s in plan.saved_order:  # a centring mean comes split: the data's dtype and its offset
        if s in p.given:
            p.emit(f"{s}, {p.given[s]} = _split(_saved(saved, {s!r}, kshape), dtype)")
            p.unmeasured.add(s)
        else:
            p.emit(f"{s} = np.asarray(_saved(saved, {s!r}, kshape), dtype)")
    p.equations(plan.eqns(plan.rows), keep)
    if not plan.saved_order and not plan.rows and not p.offsets:
        p.emit("pass")
    p.depth -= 1
    p.owned, p.full = owned & p.owned, full & p.full
    _gradients(p, plan, shapes)
    doc = [(f'"""{layer.title or layer.name}, backward: returns '
            f"{', '.join('d' + w for w in layer.differentiable)} (the gradients of the"),
           "differentiable inputs, in file order), computed as",
           "", *[f"    d{w} = {t}" for w, t in fast_forms_text(plan).items()], "",
           "saved: the dict forward(..., return_saved=True) returns, or None to recompute",
           "the statistics.  out: an array for the first gradient, or a tuple with an",
           'array or None per gradient."""']
    head = f"def backward({_signature(layer, 'dy', 'axis=0, saved=None, out=None')}):"
    return "\n".join([head, *("    " + d if d else "" for d in doc), *p.lines]), set(p.offsets)


def _gradients(p: Printer, plan: Plan, shapes: dict[str, str]) -> None:
    """Coefficients of every formula first (they read the rows), then gradients
    summed to a smaller shape, then full-shape gradients (which may overwrite rows)."""
    layer = plan.layer
    count = len(layer.differentiable)
    prepared = {w: p.prepare("d" + w, e, full=w == plan.data) if layer.inputs[w].kind == ROW else p.scalar(e)
                for w, e in plan.formulas.items()}
    full = [w for w in layer.differentiable if w == plan.data]
    results = {}
    for k, w in enumerate(layer.differentiable):
        if w in full:
            continue
        grad = "d" + w
        if layer.inputs[w].kind == ROW:
            p.reduced_gradient(grad, prepared[w], f"{w}.shape")
        else:
            p.emit(f"{grad} = _sum_to({w}.shape, np.broadcast_to({prepared[w]}, kshape))")
        results[w] = f"_store({grad}.reshape({shapes[w]}), _out(out, {k}, {count}), result)"
    for k, w in enumerate(layer.differentiable):
        if w not in full:
            continue
        grad = "d" + w
        later = set().union(*(names(plan.formulas[v]) for v in full[full.index(w) + 1:]))
        given = p.fresh(f"{grad}_out")
        p.emit(f"{given} = _out(out, {k}, {count})")
        arrays = ", ".join(["dy", *(n for n, i in layer.inputs.items() if i.kind != CONSTANT)])
        p.emit(f"{grad} = _usable({given}, dtype, shape, {arrays})")
        p.full_gradient(grad, prepared[w], later)
        results[w] = f"_store({grad}, {given}, result)"
    p.emit(f"return {', '.join(results[w] for w in layer.differentiable)}{',' if count == 1 else ''}")  # a tuple


__all__ = ["RESERVED", "NotCertified", "Plan", "certify", "emit_module", "load_module"]
