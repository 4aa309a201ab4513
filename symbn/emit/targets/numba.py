"""The numba target: ``forward``/``backward`` as fused compiled kernels of the proved formulas.

Certification is the NumPy module's (:func:`~symbn.emit.certify.certify`): the
kernels evaluate the fast forms it proved, equation by equation.  Each call is
two kernels (:mod:`.loops`): a reduce kernel that reads the data once and
returns the per-slice values (statistics, the sums of the formulas, per-slice
gradients), and an element-wise kernel that writes the outputs; or, for data of
at most a MB (:func:`~.numba_runtime._blocks`), the small kernel that does both on
one thread.  The statistics
are summed in float64 whatever the data, in blocks centred on their own mean (on
a value of their own data, for float32) and merged exactly (:mod:`.shift`), so
they are as stable as two passes.

The Python functions around the kernels have the NumPy module's signatures and
shape rules; the view of the data the kernels read is :mod:`.numba_runtime`'s.  A
plain call (contiguous arrays of one float dtype, inputs of the kept or reduced
axes' shape, no ``out``: :func:`~.numba_runtime._plain`) skips the shape rules'
Python, which otherwise takes as long as the kernels at 256 × 256; a plain call of
small 2-D data goes straight to the small kernel, decided from the data by one
cached look-up (:func:`~.numba_runtime._small`) and its other inputs checked inline.
"""

from __future__ import annotations

from symbn.emit import runtime as emit_runtime
from symbn.emit.certify import NotCertified, certify
from symbn.emit.common import constants, helpers, signature
from symbn.emit.plan import RESERVED, Plan
from symbn.emit.targets import loops, numba_runtime
from symbn.emit.targets.loops import Kernels
from symbn.emit.targets.schedule import Schedule, ops
from symbn.ir.primitives import CONSTANT, ROW, SCALAR
from symbn.lang.derivation import Layer

ADD = '''@numba.njit(fastmath={"reassoc"}, cache=True)
def _add(total, value):
    """A sum's step that LLVM may reorder: the runs layout's sums vectorise."""
    return total + value'''


NUMBA_RUNTIME_IMPORTS = ("import functools\n", "import numpy as np\n",
                         ("from symbn.emit.runtime import _axes, _fits, _place, _saved, _store, _sum_to  # beside these "
                         "when emitted\n"))


class Names:
    """The layer's inputs as the kernels take them."""

    def __init__(self, layer: Layer, plan: Plan):
        if layer.output_kind != ROW:
            raise NotCertified(f"{layer.path}: the numba target computes a layer whose output is a row; "
                               f"'{layer.graph.output}' is per slice (use the numpy target)")
        self.data = plan.data
        self.rows = [n for n, i in layer.inputs.items() if i.kind == ROW]
        self.others = [n for n in self.rows if n != self.data]
        self.slices = [n for n, i in layer.inputs.items() if i.kind == SCALAR]
        self.constants = [n for n, i in layer.inputs.items() if i.kind == CONSTANT]
        self.inputs = [n for n, i in layer.inputs.items() if i.kind != CONSTANT]

    def given(self, backward: bool, saved: tuple[str, ...] = ()) -> dict[str, str]:
        out = {n: ROW for n in self.rows} | {n: SCALAR for n in self.slices}
        out |= {n: CONSTANT for n in self.constants} | {"N": CONSTANT}
        return out | ({"dy": ROW} if backward else {}) | {s: SCALAR for s in saved}


def emit(layer: Layer, time_limit: float | None = 60.0) -> str:
    """The numba module's source; raises :class:`NotCertified` before printing anything."""
    certified = certify(layer, time_limit)
    plan = Plan(layer, {w: t for w, (t, _) in certified.items()})
    names = Names(layer, plan)
    formulas = {w: layer.formula(t, f"emitted.{w}") for w, t in plan.texts().items()}
    every = ops(layer, formulas)
    out = layer.graph.output
    grads_rows = ["d" + w for w in names.others]
    per_slice_grads = ["d" + w for w in names.slices]
    forward = Schedule(every, names.given(False), list(plan.saved_order), [out])
    backward = Schedule(every, names.given(True), per_slice_grads, ["d" + names.data, *grads_rows])
    saved = Schedule(every, names.given(True, plan.saved_order), per_slice_grads, ["d" + names.data, *grads_rows])
    assert saved.per_slice == backward.per_slice  # one element-wise kernel serves both
    kernels = []
    for layout in ("cols", "runs"):
        rows_f = [names.data, *names.others]
        rows_b = [names.data, "dy", *names.others]
        f = Kernels("forward", forward, layout, rows_f, names.slices, names.constants, [out], [])
        b = Kernels("backward", backward, layout, rows_b, names.slices, names.constants, ["d" + names.data], grads_rows)
        s = Kernels("backward_saved", saved, layout, rows_b, [*names.slices, *plan.saved_order], names.constants,
                    ["d" + names.data], grads_rows)
        kernels += [f.reduce(), f.rows(), f.small(), b.reduce(), b.rows(), b.small(), s.reduce(), s.small()]
    parts = [
        _docstring(layer, plan, certified),
        "import functools\n\nimport numba\nimport numpy as np",
        constants(layer, plan),
        helpers(emit_runtime),
        helpers(numba_runtime, NUMBA_RUNTIME_IMPORTS),
        ADD,
        *kernels,
        _tables(forward, backward, saved),
        _forward(layer, plan, names, forward),
        _backward(layer, plan, names, backward),
    ]
    clash = RESERVED & set(layer.inputs)
    if clash:  # pragma: no cover - Plan refuses these first
        raise NotCertified(f"{layer.path}: the name {min(clash)!r} is used by the emitted code")
    return "\n\n\n".join(p.strip("\n") for p in parts) + "\n"


def _tables(forward: Schedule, backward: Schedule, saved: Schedule) -> str:
    """The kernels of each pipeline by layout, and whether its blocks must be whole slices."""
    return "\n".join([
        "_FORWARD = ((_forward_reduce_cols, _forward_reduce_runs), (_forward_rows_cols, _forward_rows_runs),",
        "            (_forward_small_cols, _forward_small_runs))",
        "_BACKWARD = ((_backward_reduce_cols, _backward_reduce_runs), (_backward_rows_cols, _backward_rows_runs),",
        "             (_backward_small_cols, _backward_small_runs))",
        "_BACKWARD_SAVED = ((_backward_saved_reduce_cols, _backward_saved_reduce_runs), _BACKWARD[1],",
        "                   (_backward_saved_small_cols, _backward_saved_small_runs))",
        f"_WHOLE = {{'forward': {forward.whole}, 'backward': {backward.whole}, 'backward_saved': {saved.whole}}}",
        "",
        "",
        "def _pairs_from():",
        '    """The row width from which the parallel element-wise pass takes rows two at a time: on a host with',
        "    AVX-512 (12% faster at 4096 x 1024 float32 on a znver4), never on others (10% slower on a znver3; NOTES 59).\"\"\"",
        "    try:",
        "        from llvmlite import binding",
        f"        return {loops.ROWS_GROUPS[0][1] if loops.ROWS_GROUPS else 0} if binding.get_host_cpu_features().get('avx512f', False) else 1 << 62",
        "    except (ImportError, RuntimeError):  # features LLVM cannot read: one row at a time",
        "        return 1 << 62",
        "",
        "",
        "_PAIRS_FROM = _pairs_from()",
        "",
        "",
        "def _reduce(kernels, lay, rows, slices, constants, whole):",
        '    """The reduce kernel of the layout: per-slice values, (values, K) float64.  float32 data',
        "    are summed in one sweep over each block (the kernels' _narrow: None for float64 data, which numba",
        "    compiles without the branches of float32's), float64 in two.\"\"\"",
        "    ablock, kchunk = _reduce_blocks(lay, rows[0].dtype.itemsize, len(rows), whole)",
        "    return kernels[0 if _cols(lay) else 1](*rows, *slices, *constants, ablock, kchunk, _narrow_of(rows[0]))",
        "",
        "",
        "def _run(kernels, lay, rows, slices, constants, whole, outputs, blocks):",
        '    """The per-slice values, the outputs written: by the small kernel when ``blocks`` (from',
        "    _blocks) says so, else by the reduce kernel and then the element-wise one.\"\"\"",
        "    ablock, kchunk, small = blocks",
        "    if small:",
        "        return kernels[2][0 if _cols(lay) else 1](*rows, *slices, *constants, *outputs, ablock, kchunk, _narrow_of(rows[0]))",
        "    C = _reduce(kernels[0], lay, rows, slices, constants, whole)",
        "    kernels[1][0 if _cols(lay) else 1](*rows, *constants, C, *outputs, ablock, kchunk, _PAIRS_FROM)",
        "    return C",
    ])


def _prologue(names: Names, backward: bool) -> list[str]:
    """Shapes, dtypes and the kernels' view of the arguments: a plain call (:func:`_plain`)
    reads them as they are, any other goes through the shape rules."""
    data = names.data
    lines = [(f"plain = _plain({data}, axis, {_tuple(['dy'] if backward else [])}, {_tuple(names.slices)}, "
             f"{_tuple(names.others)}, {'out' if backward else 'None'})"),
             "if plain is not None:",
             "    axes, lay = plain[0], plain[1]", f"    result = dtype = {data}.dtype", f"    shape = {data}.shape",
             f"    slices = {_as_is(names.slices, '.reshape(-1)', 'plain[6]')}",
             f"    rows = {_as_is([data, *(['dy'] if backward else [])], '.reshape(plain[4])', 'plain[5]')}",
             "else:"]
    general = [f"result = _result({', '.join((['dy'] if backward else []) + names.inputs)})",
               "dtype = _real(_work(result))", f"{data} = np.asarray({data}, dtype)", f"shape = {data}.shape",
               f"axes = _axes({data}.ndim, axis)", "lay = _layout(shape, axes)"]
    if backward:
        general.append("dy = _data(dy, dtype, shape, 'dy')")
    general.append(f"slices = {_tuple([f'_per_slice({v}, shape, axes, {v!r}, dtype, {data!r})' for v in names.slices])}")
    general.append(f"rows = {_tuple([f'_canon({r}, lay)' for r in [data, *(['dy'] if backward else [])]])}")
    lines += ["    " + line for line in general]
    for g in names.others:
        lines.append(f"{g}_view, {g}_varies = _rows_in({g}, dtype, shape, axes, lay, {g!r}, {data!r})")
    if names.others:
        lines.append(f"rows = (*rows, {', '.join(g + '_view' for g in names.others)})")
    lines.append(f"constants = {_tuple([f'_constant({c}, {c!r})' for c in names.constants])}")
    return lines


def _small_plain(names: Names, backward: bool, table: str, whole: str, outputs: list[str], given: list[str],
                 done: list[str]) -> list[str]:
    """A plain call of small data that the kernels read as they are (BatchNorm's (N, C) over axis 0): the small
    kernel with the least Python around it, on the same values as the plain path: one cached look-up from the data
    (``_small``) and the other inputs checked inline, as :func:`_plain` checks them (NOTES 53, 55).  ``given``: [a
    line giving the saved values the kernel takes after the per-slice inputs, or None for the plain path (which says
    what is wrong)], or [].  ``done``: the lines that return.  Not for layers with a row input (LayerNorm's gamma):
    its gradient is summed by slabs (_gradient_buffer)."""
    data = names.data
    rows = [data, *(["dy"] if backward else [])]
    checks = [f"type({a}) is np.ndarray and {a}.dtype == {data}.dtype and {a}.shape == {shape} and {a}.flags.c_contiguous"
              for a, shape in [(r, f"{data}.shape") for r in rows[1:]] + [(v, "small[5]") for v in names.slices]]
    call = [*(f"{o} = np.empty({data}.shape, dtype)" for o in outputs),
            (f"C = {table}[2][small[4]]({', '.join(rows + names.slices)}, {'*given, ' if given else ''}"
             f"{''.join(f'_constant({c}, {c!r}), ' for c in names.constants)}{', '.join(outputs)}, small[1], small[2], "
             "small[3])"), *done]
    body = [f"dtype = {data}.dtype", *([f"given = {given[0]}", "if given is not None:", *("    " + c for c in call)]
                                        if given else call)]
    return [f"small = {'None if out is not None else ' if backward else ''}_small({data}, axis, {len(rows) + 1}, _WHOLE[{whole}])",
            *(["if small is not None:"] if not checks else
              ["if (small is not None", *(f"        and {c}" for c in checks[:-1]), f"        and {checks[-1]}):"]),
            *("    " + b for b in body)]


def _as_is(names: list[str], view: str, flag: str) -> str:
    """The arrays as they are when ``flag`` (a plain call's: the kernels read them so), else their views."""
    if not names:
        return "()"
    return f"{_tuple(names)} if {flag} else {_tuple([n + view for n in names])}"


def _tuple(items: list[str]) -> str:
    return f"({', '.join(items)}{',' if len(items) == 1 else ''})"


def _forward(layer: Layer, plan: Plan, names: Names, s: Schedule) -> str:
    out = layer.graph.output
    lines = _prologue(names, False)
    saved = ", ".join(f"{v!r}: _unslice(C[{s.per_slice.index(v)}], shape, axes)" for v in plan.saved_order)
    if not names.others:
        lines[0:0] = _small_plain(names, False, "_FORWARD", "'forward'", [out], [],
                                  [f"shape, axes = {names.data}.shape, small[0]", "if return_saved:",
                                   f"    return {out}, {{{saved}}}", f"return {out}"])
    lines += [f"{out} = np.empty(rows[0].shape, dtype)",
              (f"C = _run(_FORWARD, lay, rows, slices, constants, _WHOLE['forward'], ({out},), "
               "_blocks(lay, dtype.itemsize, len(rows) + 1, False, _WHOLE['forward']))"),
              f"{out} = ({out} if plain[5] else {out}.reshape(shape)) if plain is not None else _as(result, _restore({out}, shape, lay))"]
    lines += ["if return_saved:", f"    return {out}, {{{saved}}}", f"return {out}"]
    doc = [f'"""{layer.title or layer.name}, forward: returns {out}, or ({out}, saved) with saved =',
           f"{{{', '.join(repr(v) + ': ...' for v in plan.saved_order)}}}, the per-slice stages backward needs",
           '(keepdims float64 arrays)."""']
    head = f"def forward({signature(layer, '', 'axis=0, return_saved=False')}):"
    return "\n".join([head, *("    " + d for d in doc), *("    " + line for line in lines)])


def _backward(layer: Layer, plan: Plan, names: Names, s: Schedule) -> str:
    count, data = len(layer.differentiable), names.data
    lines = _prologue(names, True)
    if not names.others:
        kept = [s.per_slice.index("d" + v) for v in names.slices]
        if not kept or kept == list(range(kept[0], kept[-1] + 1)):  # one cast for the per-slice gradients
            cast = [f"G = C[{kept[0]}:{kept[-1] + 1}].astype(dtype)"] if kept else []
            grads = {v: f"G[{i}]" for i, v in enumerate(names.slices)}
        else:
            cast, grads = [], {v: f"C[{r}].astype(dtype)" for v, r in zip(names.slices, kept)}
        grads[data] = f"d{data}"
        lines[0:0] = _small_plain(names, True, "(_BACKWARD if saved is None else _BACKWARD_SAVED)",
                                  "'backward' if saved is None else 'backward_saved'", [f"d{data}"],
                                  [f"() if saved is None else _plain_saved(saved, {plan.saved_order!r}, small[6])"],
                                  [*cast, f"return {_tuple([grads[w] for w in layer.differentiable])}"])
    lines += ["if saved is not None:",
              f"    given = None if plain is None else _plain_saved(saved, {plan.saved_order!r}, lay[2])",
              "    if given is None:",
              f"        given = tuple(_saved_slice(saved, v, shape, axes) for v in {plan.saved_order!r})",
              (f"blocks = _blocks(lay, dtype.itemsize, len(rows) + 1, {bool(names.others)}, "
               "_WHOLE['backward' if saved is None else 'backward_saved'])")]
    k_data = layer.differentiable.index(data)
    arrays = _tuple(["dy", *names.inputs])
    lines += [f"d{data}_out = None if plain is not None else _out(out, {k_data}, {count})",  # a plain call has no out
              f"d{data}_buffer = None if plain is not None else _usable_out(d{data}_out, dtype, shape, lay, {arrays})",
              f"d{data} = np.empty(rows[0].shape, dtype) if d{data}_buffer is None else d{data}_buffer.reshape(rows[0].shape)"]
    lines += [f"d{g}_sums = _gradient_buffer(lay, {g}_varies, blocks[1])" for g in names.others]
    outputs = _tuple([f"d{data}", *(f"d{g}_sums" for g in names.others)])
    lines += ["if saved is None:",
              f"    C = _run(_BACKWARD, lay, rows, slices, constants, _WHOLE['backward'], {outputs}, blocks)",
              "else:",
              (f"    C = _run(_BACKWARD_SAVED, lay, rows, slices + given, constants, _WHOLE['backward_saved'], "
               f"{outputs}, blocks)")]
    results = {data: f"(d{data}_out if d{data}_buffer is not None else "
                     f"_store(_restore(d{data}, shape, lay), d{data}_out, result))"}
    for g in names.others:
        results[g] = f"_store(_gradient(d{g}_sums, shape, axes, lay, {g}), _out(out, {layer.differentiable.index(g)}, {count}), result)"
    plain = dict(results, **{data: f"d{data} if plain[5] else d{data}.reshape(shape)"})  # no out; result is dtype
    for v in names.slices:
        row = s.per_slice.index("d" + v)
        results[v] = (f"_slice_gradient(C[{row}], {v}, shape, axes, _out(out, {layer.differentiable.index(v)}, {count}), "
                      "result)")
        plain[v] = f"C[{row}].astype(result) if plain[6] else C[{row}].reshape({v}.shape).astype(result)"
    lines += ["if plain is not None:", f"    return {_tuple([plain[w] for w in layer.differentiable])}",
              f"return {_tuple([results[w] for w in layer.differentiable])}"]
    grads = ", ".join("d" + w for w in layer.differentiable)
    doc = [f'"""{layer.title or layer.name}, backward: returns {grads}, computed as', "",
           *[f"    d{w} = {t}" for w, t in plan.texts().items()], "",
           "saved: the dict forward(..., return_saved=True) returns (or the NumPy module's), or None",
           "to recompute the statistics.  out: an array for the first gradient, or a tuple with",
           'an array or None per gradient."""']
    head = f"def backward({signature(layer, 'dy', 'axis=0, saved=None, out=None')}):"
    return "\n".join([head, *("    " + d if d else "" for d in doc), *("    " + line for line in lines)])


def _docstring(layer: Layer, plan: Plan, certified) -> str:
    from symbn.version import __version__

    stages = "\n".join(f"    {layer.stage_text[s]}" for s in layer.graph.stages)
    grads = "\n".join(f"    d{w} = {t}" for w, (t, _) in certified.items())
    closed = "\n".join(f"    d{w} = {f.text}" for w, f in layer.closed_form.items())
    return f'''"""{layer.title or layer.name}: forward and backward as numba kernels.

Emitted by symbn {__version__} from {layer.path}.  Do not edit: re-emit.

Forward (the stages of the file):

{stages}

Backward: these formulas are what the kernels compute, equation by equation;
each was proved equal to reverse mode for every slice size N before this module
was written, as was the closed form of the file it was rearranged from.

{grads}

Closed forms of the file:

{closed}

Each call runs two kernels, compiled on first use for the dtype and layout it
needs (numba caches them beside this file): one reads the data once for the
per-slice values, summed in float64 in blocks centred on their own statistics (on
a value of the block for float32 data, whose differences float64 holds exactly)
and merged exactly; one writes the outputs.  Small data (at most a MB) run in one
kernel that does both, on one thread.  Tasks are fixed by the shape, so results do
not depend on the number of threads.  Shapes and broadcasting follow the
NumPy module's rules; data are float16 (computed in float32), float32 or float64.
"""'''


__all__ = ["emit"]
