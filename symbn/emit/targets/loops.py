"""numba text of a :class:`~.schedule.Schedule`: a reduce kernel, an element-wise kernel, and both in one.

The data are read as (A, K, B): slice k is x[:, k, :].  Two layouts are printed, each compiled when a call needs it:

- ``cols`` (B = 1, the slice is a column, BatchNorm's (N, C)): rows are read in order and the innermost loop runs along
  k, over contiguous memory, with one accumulator per slice (an array, so it vectorises as written);
- ``runs`` (B > 1: LayerNorm's rows, the H×W of (N, C, H, W)): the innermost loop runs along b; its sums go through
  ``_add``, whose reassociating add lets LLVM vectorise them (the order is then fixed by the compiled code, not by
  threads).

The reduce kernel splits the data into tasks of a block of rows times a chunk of slices, fixed by the shape: every block
is read from memory once and summed in the passes of :class:`~.schedule.Pass` from cache; its partial sums go to ``_P``
(slice-major, so that the merge reads a slice's blocks in a row); then, per slice, the blocks are merged in order (the
shift terms of :mod:`.shift`) and the per-slice ops run.  A cols block of two passes given ``_narrow`` (float32 data)
takes both in one sweep, the first pass's statistics estimated from the block's first row (:meth:`Kernels._first_row`):
the difference of two float32 values and its square are exact in float64, so centring on a data value instead of the
block's mean costs nothing float32 can see; float64 data keep the two passes.  The result ``_C`` holds one row per value
of ``Schedule.per_slice``.  The element-wise kernel reads ``_C`` and writes the outputs.  For small data the small
kernel does both on one thread (:meth:`Kernels.small`): the same printed pieces, in the same blocks.  A cols sweep adds
rows to its sums several at a time, and the element-wise pass takes several rows at a time, as ``REDUCE_GROUPS``,
``SMALL_GROUPS`` and ``ROWS_GROUPS`` say.  Names: a file's names as they are; everything of the kernel's own starts with
an underscore, which no file name can."""

from __future__ import annotations

import sympy as sp

from symbn.emit.targets import shift
from symbn.emit.targets.schedule import Op, Schedule
from symbn.emit.targets.statements import atom, indent, statement, words
from symbn.ir.primitives import mean_p, sub_p

# fastmath "contract" only: a product added to lets LLVM fuse the two into one FMA, a rounding fewer (4-8% at
# 256 x 256 float32, NOTES 49); nothing is reordered, so sums keep their order and a kernel its bits on any threads.
DECORATOR = '@numba.njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})'
# A cols sweep adds rows to its sums several at a time: the first group that applies, (rows at a time, from a row of
# this many values (0: any), for sweeps of at least this many sums); the rows left over one at a time.  Why these
# (four rows from memory at 640 values or more, two on sweeps of three sums, two in the small kernel): NOTES 48-49.
REDUCE_GROUPS = ((4, 640, 1), (2, 0, 3))
SMALL_GROUPS = ((2, 0, 1),)
# The element-wise pass: (rows at a time, from a row of this many values); 8% slower at 65536 x 64 (NOTES 49).  The
# parallel kernel takes the width as its argument _pairs_from: the module's _PAIRS_FROM, by the host (NOTES 59).
ROWS_GROUPS = ((2, 640),)
SERIAL = '@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})'  # the small kernel: no threads to wake
_N, _n_symbol = sp.Symbol("N"), sp.Symbol("_n")  # N in a row op's shift term is the slice size


class Kernels:
    """The kernels of one pipeline (``name``: forward or backward) in one layout.

    ``rows_in``: the row inputs, the data first, as the kernels take them (3-D for
    runs, 2-D for cols); ``slices_in``: per-slice inputs ((K,) arrays: the data's
    dtype for an input, float64 for a saved value; read as float64);
    ``constants``: numbers; ``full``: outputs of the data's shape; ``grads``:
    gradients of row inputs other than the data, summed into ``_grad_<name>``
    (slabs, A, K or 1, B) float64 arrays (see the module)."""

    def __init__(self, name: str, s: Schedule, layout: str, rows_in: list[str], slices_in: list[str],
                 constants: list[str], full: list[str], grads: list[str]):
        self.name, self.s, self.layout = name, s, layout
        self.rows_in, self.slices_in, self.constants = rows_in, slices_in, constants
        self.full, self.grads = full, grads
        self.cols = layout == "cols"
        # cols blocks of two passes take both in one sweep over memory, the first estimated from the block's first row
        self.fused = self.cols and len(s.passes) == 2 and not s.whole
        self.inner = "_j" if self.cols else "_b"  # the innermost index, counted from 0 over a row's view
        self.stored: dict[str, int] = {}  # _P rows: partial sums and the blocks' estimates
        self.shifted = list(dict.fromkeys(x for p in s.passes for x in p.shifted))
        self._merged: set[str] = set()  # per-slice ops the merge has run
        self.groups = REDUCE_GROUPS  # how a sweep groups rows: set by the kernel being printed

    # --- shared pieces ----------------------------------------------------------------------

    def head(self, kind: str, params: list[str], decorator: str = DECORATOR) -> list[str]:
        shape = "_A, _K = _in_{0}.shape" if self.cols else "_A, _K, _B = _in_{0}.shape"
        return [decorator, f"def _{self.name}_{kind}_{self.layout}({', '.join(params)}):",
                "    " + shape.format(self.rows_in[0]),
                "    _n = float(_A)" if self.cols else "    _n = float(_A * _B)",
                "    _nab = (_A + _ablock - 1) // _ablock", "    _nkc = (_K + _kchunk - 1) // _kchunk"]

    def read_rows(self, ops: list[Op], extra: list[str] = ()) -> list[str]:
        reads = {a for op in ops for a in op.reads} | set(extra)
        return [r for r in self.rows_in if r in reads]

    def views(self, rows: list[str], prefix: str = "_in_", name: str = "_r_") -> list[str]:
        """One row of each array as a view: the innermost loop then counts from 0, so LLVM knows its index is not
        negative and vectorises it (an index from k0 is wrapped like a negative one, element by element)."""
        part = "[_a, _k0:_k0 + _w]" if self.cols else "[_a, _k]"
        return [f"{name}{r} = {prefix}{r}{part}" for r in rows]

    def bind_rows(self, rows: list[str]) -> list[str]:
        return [f"{r} = np.float64(_r_{r}[{self.inner}])" for r in rows]

    def slice_values(self, n: str) -> list[str]:
        """Per-slice inputs and the ops of level 0 (from inputs and constants only)."""
        lines = [f"{v} = np.float64(_in_{v}[_k])" for v in self.slices_in]  # an input in the data's dtype
        return lines + [statement(op, n) for op in self.s.level0()]

    # --- the reduce kernel ------------------------------------------------------------------

    def reduce(self) -> str:
        self._plan_sums()
        self.groups = REDUCE_GROUPS
        params = [f"_in_{r}" for r in self.rows_in] + [f"_in_{v}" for v in self.slices_in] + self.constants
        lines = self.head("reduce", [*params, "_ablock", "_kchunk", "_narrow"])
        lines += self._partials() + ["    for _t in numba.prange(_nab * _nkc):", *indent(self._block_task(), 2)]
        lines += [self._per_slice_values(), "    for _k in numba.prange(_K):", *indent(self._merge()[0], 2)]
        return "\n".join(lines + ["    return _C"])

    def small(self) -> str:
        """Both kernels' work in one function, on one thread, for small data: the reduce kernel's block tasks, its
        merge (in two loops, ``_two_loops``), then the element-wise tasks, in order, the data read the second time
        from cache.  Below a MB, waking the other threads for three parallel regions and the Python around two kernels
        cost more than the threads save (NOTES 48)."""
        self._plan_sums()
        self.groups = SMALL_GROUPS
        params = [f"_in_{r}" for r in self.rows_in] + [f"_in_{v}" for v in self.slices_in] + self.constants
        params += [f"_out_{o}" for o in self.full] + [f"_grad_{g}" for g in self.grads]
        lines = self.head("small", [*params, "_ablock", "_kchunk", "_narrow"], SERIAL)
        lines += [f"    _s_{g} = 1 if _grad_{g}.shape[2] > 1 else 0" for g in self.grads]
        lines += self._partials() + ["    for _t in range(_nab * _nkc):", *indent(self._block_task(), 2)]
        lines += [self._per_slice_values(), *indent(self._two_loops(*self._merge()), 1)]
        lines += ["    for _t in range(_nab * _nkc):", *indent(self._rows_task(), 2)]
        return "\n".join(lines + ["    return _C"])

    def _partials(self) -> list[str]:
        return [f"    _P = np.zeros((_K, _nab, {max(len(self.stored), 1)}))"]

    def _per_slice_values(self) -> str:
        return f"    _C = np.empty(({max(len(self.s.per_slice), 1)}, _K))"

    def _block_task(self) -> list[str]:
        """One reduce task: a block of rows of a chunk of slices, its partial sums to ``_P``."""
        task = ["_ab = _t // _nkc", "_a0 = _ab * _ablock", "_a1 = min(_A, _a0 + _ablock)", "_k0 = (_t % _nkc) * _kchunk"]
        return task + (self._blocks_cols() if self.cols else self._blocks_runs())

    def _plan_sums(self) -> None:
        """What each block stores in ``_P``: the sum of each body, and of each shift
        term's coefficient without its number (Σ -2·xmu is -2·Σ xmu; Σ -dy is -1
        times the body Σ dy, already there); a term that is a number is n_b times
        it, in the merge; and the block's own estimate of each statistic a later pass
        reads.  ``source``: term -> (stored key or "" for a number, the number)."""
        self.stored, self._merged = {}, set()  # each kernel plans afresh: reduce and small print the same plan
        self.source: dict[str, tuple[str, str]] = {}
        self.extra: dict[int, list[tuple[str, str, bool]]] = {}  # pass -> (key, text, varies along the slice)
        for p in self.s.passes:
            for b in p.bodies:
                self.stored.setdefault(b, len(self.stored))
            for body in p.bodies:
                for k, t in enumerate(p.terms[body]):
                    factor, rest = t.coefficient.subs({_N: _n_symbol}).as_coeff_Mul()
                    if not rest.free_symbols:
                        self.source[f"{body}#{k}"] = ("", shift.python(factor * rest))
                        continue
                    key = shift.python(rest)
                    if key not in self.stored:
                        self.stored[key] = len(self.stored)
                        self.extra.setdefault(p.level, []).append((key, key, t.rows))
                    self.source[f"{body}#{k}"] = (key, shift.python(factor))
        for x in self.shifted:
            self.stored[f"{x}#b"] = len(self.stored)

    def _pass_sums(self, p) -> list[tuple[str, str]]:
        """(stored key, per-element text) for each partial sum pass p accumulates."""
        return [(body, body) for body in p.bodies] + [(k, text) for k, text, rows in self.extra.get(p.level, []) if rows]

    def _after_pass(self, p, value) -> list[str]:
        """Per slice, after pass p: the block's reductions, its own estimates, and
        what goes to ``_P``.  ``value(key)``: the text of an accumulated sum."""
        lines = []
        for r in p.reductions:
            total = value(r.args[0])
            lines.append(f"{r.out} = {total} / _nb" if r.prim is mean_p else f"{r.out} = {total}")
        lines += [statement(op, "_nb") for op in self.s.block_ops(p.level)]
        done = {r.out for r in p.reductions} | {op.out for op in self.s.block_ops(p.level)}
        return lines + self._store_sums(p, value) + self._store_estimates(done)

    def _store_sums(self, p, value) -> list[str]:
        lines = [f"_P[_k, _ab, {self.stored[b]}] = {value(b)}" for b in p.bodies]
        for key, text, rows in self.extra.get(p.level, []):
            lines.append(f"_P[_k, _ab, {self.stored[key]}] = {value(key) if rows else f'_nb * {text}'}")
        return lines

    def _store_estimates(self, done) -> list[str]:
        return [f"_P[_k, _ab, {self.stored[x + '#b']}] = {x}" for x in self.shifted if x in done]

    def _blocks_runs(self) -> list[str]:
        lines = ["_k1 = min(_K, _k0 + _kchunk)", "_nb = float((_a1 - _a0) * _B)", "for _k in range(_k0, _k1):"]
        body = self.slice_values("_n")
        for p in self.s.passes:
            sums = self._pass_sums(p)
            names = {key: f"_s{i}" for i, (key, _) in enumerate(sums)}
            body += [f"{names[key]} = 0.0" for key, _ in sums]
            rows = self.read_rows(p.rows, p.bodies)
            inner = self.bind_rows(rows) + [statement(op, "_n") for op in p.rows]
            inner += [f"{names[key]} = _add({names[key]}, {text})" for key, text in sums]
            body += ["for _a in range(_a0, _a1):", *indent(self.views(rows), 1), "    for _b in range(_B):",
                     *indent(inner, 2)]
            body += self._after_pass(p, lambda key, names=names: names[key])
        return lines + indent(body, 1)

    def _blocks_cols(self) -> list[str]:
        s = self.s
        per_slice = [v for v in self.slices_in] + [op.out for op in s.level0()]
        for p in s.passes:
            per_slice += [r.out for r in p.reductions] + [op.out for op in s.block_ops(p.level)]
        slot = {v: i for i, v in enumerate(dict.fromkeys(per_slice))}
        sums = [self._pass_sums(p) for p in s.passes]
        acc = {key: i for i, (key, _) in enumerate(x for group in sums for x in group)}
        lines = ["_w = min(_K, _k0 + _kchunk) - _k0", "_nb = float(_a1 - _a0)",
                 f"_bk = np.empty(({max(len(slot), 1)}, _w))", f"_acc = np.zeros(({max(len(acc), 1)}, _w))"]

        def bind(names) -> list[str]:
            return [f"{v} = _bk[{slot[v]}, _j]" for v in slot if v in names]

        def keep(names) -> list[str]:
            return [f"_bk[{slot[v]}, _j] = {v}" for v in names if v in slot]

        def value(key) -> str:
            return f"_acc[{acc[key]}, _j]"

        first = self.slice_values("_n")
        lines += ["for _j in range(_w):", "    _k = _k0 + _j", *indent(first + keep(self.slices_in + [op.out for op in s.level0()]), 1)]
        passes = self._sweeps([([p], group) for p, group in zip(s.passes, sums)], bind, keep, value)
        if not self.fused:
            return lines + passes
        one = self._first_row(s.passes[0], bind, keep)
        derived = self._derived(s.passes[0], sums[1], value)
        group = [g for g in sums[0] if g[0] not in derived] + sums[1]
        one += self._sweeps([(list(s.passes), group)], bind, keep, lambda key: derived.get(key) or value(key))
        return lines + ["if _narrow is not None:", *indent(one, 1), "else:", *indent(passes, 1)]

    def _sweeps(self, sweeps, bind, keep, value) -> list[str]:
        """Each sweep reads the block's rows once and sums the bodies of its passes, several rows at a time as
        ``self.groups`` says (a slice's sums are then loaded and stored once for them, and added to in the same order
        as row by row: the same bits), the rows left over one at a time.  What a block computes after its sweep and
        no later sweep reads (the last sweep's statistics: the merge reads ``_P``) is not printed (``_live``)."""
        s, lines = self.s, []
        ops_of = [[op for op in s.ops if any(op in p.rows for p in passes)] for passes, _ in sweeps]
        reads_of = [{a for op in ops for a in op.reads} | {x for _, t in g for x in words(t)} for ops, (_, g) in zip(ops_of, sweeps)]
        for at, (passes, group) in enumerate(sweeps):
            row_ops, reads, later = ops_of[at], reads_of[at], set().union(*reads_of[at + 1:])
            rows = self.read_rows(row_ops, [b for p in passes for b in p.bodies])
            element = [statement(op, "_n") for op in row_ops]
            total = {key: f"_s{i}" for i, (key, _) in enumerate(group)}
            branches = []
            for u, width, sums in self.groups:
                if len(group) < sums:
                    continue
                grouped = [*bind(reads), *(f"{total[key]} = {value(key)}" for key, _ in group)]
                for i in range(u):
                    grouped += [f"{r} = np.float64(_r_{r}_{i}[_j])" for r in rows] + element
                    grouped += [f"{total[key]} += {text}" for key, text in group]
                grouped += [f"{value(key)} = {total[key]}" for key, _ in group]
                views = [f"_r_{r}_{i} = _in_{r}[_a + {i}, _k0:_k0 + _w]" for i in range(u) for r in rows]
                branches.append((width, _grouped("_a4", u, views, grouped)))
            lines += ["_a4 = _a0", *_branches(branches)]
            inner = [*self.bind_rows(rows), *bind(reads), *element, *(f"{value(key)} += {text}" for key, text in group)]
            lines += ["for _a in range(_a4, _a1):", *indent(self.views(rows), 1),
                      "    for _j in range(_w):", *indent(inner, 2)]
            last = passes[-1]
            after = [line for p in passes[:-1] for line in self._store_sums(p, value)] + self._after_pass(last, value)
            made = [r.out for r in last.reductions] + [op.out for op in s.block_ops(last.level)]
            after, made = _live(after, made, later)
            needed = {x for line in after for x in words(line)}
            lines += ["for _j in range(_w):", "    _k = _k0 + _j", *indent(bind(needed - set(made)) + after + keep(made), 1)]
        return lines

    def _derived(self, first, later, value) -> dict[str, str]:
        """Sums of the first pass one sweep need not add up: Σ b, when b's mean m is estimated by the first row and
        the sweep sums ``b - m`` (BatchNorm's Σ xmu), is ``_nb * m + Σ (b - m)``, no less accurate (Σ (b - m) rounds
        relative to the block's spread, Σ b to its offset): one sum fewer per element (NOTES 52)."""
        summed = {key for key, text in later if key == text}
        out = {}
        for r in first.reductions:
            b = r.args[0]
            if r.prim is not mean_p or not isinstance(b, str) or b in out:
                continue
            for op in self.s.ops:
                if op.prim is sub_p and op.args == (b, r.out) and op.out in summed:
                    out[b] = f"_nb * {r.out} + {value(op.out)}"
                    break
        return out

    def _first_row(self, p, bind, keep) -> list[str]:
        """The block's estimates of pass p's statistics, from its first row: each is
        its value had every row of the block been the first (a mean is the first
        row's value, a sum ``_nb`` times it).  The next pass then sums around them
        in the same sweep; the merge's shift terms make the sums exact whatever the
        estimate, and an estimate inside the block's data is close enough to keep
        them stable: |x_first - mean| <= sd·sqrt(_nb), so centring on it instead of
        on the mean loses at most log2(_nb) bits of the block's Σ(x - mean)**2."""
        rows = self.read_rows(p.rows, p.bodies)
        reads = {a for op in p.rows for a in op.reads}
        body = [*self.bind_rows(rows), *bind(reads), *(statement(op, "_n") for op in p.rows)]
        for r in p.reductions:
            b = atom(r.args[0], "_n")
            body.append(f"{r.out} = {b}" if r.prim is mean_p else f"{r.out} = _nb * {b}")
        ops = self.s.block_ops(p.level)
        body += [statement(op, "_nb") for op in ops]
        made = [r.out for r in p.reductions] + [op.out for op in ops]
        body += keep(made) + self._store_estimates(set(made))
        return ["_a = _a0", *self.views(rows), "for _j in range(_w):", "    _k = _k0 + _j", *indent(body, 1)]

    def _merge(self) -> tuple[list[str], int]:
        """Slice ``_k``: its blocks merged in order, then the per-slice ops, to ``_C``; and where the last blocks'
        merge ends (what follows reads per-slice values alone)."""
        s, cut = self.s, 0
        body = self.slice_values("_n")
        for p in s.passes:
            body += [f"_r{i} = 0.0" for i in range(len(p.bodies))]
            rows = "(min(_A, _ab * _ablock + _ablock) - _ab * _ablock)"
            inner = [f"_nb = float({rows}{'' if self.cols else ' * _B'})"]
            inner += [f"{shift.delta(x)} = {x} - _P[_k, _ab, {self.stored[x + '#b']}]" for x in p.shifted]
            for i, b in enumerate(p.bodies):
                parts = [f"_P[_k, _ab, {self.stored[b]}]"]
                for k, t in enumerate(p.terms[b]):
                    key, factor = self.source[f"{b}#{k}"]
                    times = "" if factor == "1.0" else f"{factor} * "
                    value = f"_nb * {factor}" if not key else f"{times}_P[_k, _ab, {self.stored[key]}]"
                    parts.append(f"{shift.monomial(p.shifted, t.powers)} * {value}")
                inner.append(f"_r{i} += {' + '.join(parts)}")
            body += ["for _ab in range(_nab):", *indent(inner, 1)]
            cut = len(body)
            total = {b: f"_r{i}" for i, b in enumerate(p.bodies)}
            body += [f"{r.out} = {total[r.args[0]]}{' / _n' if r.prim is mean_p else ''}" for r in p.reductions]
            body += [statement(op, "_n") for op in self._merge_ops(p)]
        return body + [f"_C[{i}, _k] = {v}" for i, v in enumerate(s.per_slice)], cut

    def _two_loops(self, body: list[str], cut: int) -> list[str]:
        """The small kernel's merge as two loops over the slices: the blocks merged (inner loops), then the per-slice
        ops, a loop without inner loops that LLVM vectorises (the divisions and square roots of 8 slices at once)."""
        start = len(self.slice_values("_n"))
        made = {line.split(" = ", 1)[0] for line in body[start:cut] if not line.startswith((" ", "for "))}
        carried = sorted(made & {x for line in body[cut:] for x in words(line)})
        if not cut or not carried:
            return ["for _k in range(_K):", *indent(body, 1)]
        return [f"_M = np.empty(({len(carried)}, _K))", "for _k in range(_K):",
                *indent(body[:cut] + [f"_M[{i}, _k] = {v}" for i, v in enumerate(carried)], 1), "for _k in range(_K):",
                *indent(body[:start] + [f"{v} = _M[{i}, _k]" for i, v in enumerate(carried)] + body[cut:], 1)]

    def _merge_ops(self, p) -> list[Op]:
        """The per-slice ops the merge runs after pass p: those of its level that later
        passes need (their δs), or, after the last pass, every op not yet run."""
        s = self.s
        ops = [op for op in s.merge if not op.prim.reduction and s.level[op.out] >= 1]
        if p is s.passes[-1]:
            return [op for op in ops if op.out not in self._merged]
        needed = {op.out for q in s.passes[p.level:] for op in s._closure(q.shifted, through_scalars=True)}
        out = [op for op in ops if s.level[op.out] == p.level and op.out in needed]
        self._merged |= {op.out for op in out}
        return out

    # --- the element-wise kernel ---------------------------------------------------------------

    def rows(self) -> str:
        params = [f"_in_{r}" for r in self.rows_in] + self.constants + ["_C"]
        params += [f"_out_{o}" for o in self.full] + [f"_grad_{g}" for g in self.grads] + ["_ablock", "_kchunk", "_pairs_from"]
        lines = self.head("rows", params)
        lines += [f"    _s_{g} = 1 if _grad_{g}.shape[2] > 1 else 0" for g in self.grads]
        lines += ["    for _t in numba.prange(_nab * _nkc):", *indent(self._rows_task("_pairs_from"), 2)]
        return "\n".join(lines)

    def _rows_task(self, wide: str | None = None) -> list[str]:
        """One element-wise task: a block of rows of a chunk of slices, from ``_C``.  A
        cols task takes several rows at a time as ROWS_GROUPS says (from the row width
        ``wide`` names, if given), each slice's values loaded once for them (each element
        computed as alone)."""
        s = self.s
        reads = {a for op in s.rows for a in op.reads} | set(self.full) | set(self.grads)
        slices = [(i, v) for i, v in enumerate(s.per_slice) if v in reads]
        rows = self.read_rows(s.rows, [*self.full, *self.grads])
        ops = [statement(op, "_n") for op in s.rows]
        task = ["_kc = _t % _nkc", "_a0 = (_t // _nkc) * _ablock", "_a1 = min(_A, _a0 + _ablock)",
                "_k0 = _kc * _kchunk", "_w = min(_K, _k0 + _kchunk) - _k0"]
        outputs = self.views(self.full, "_out_", "_w_")
        if not self.cols:
            element = self.bind_rows(rows) + ops + [f"_w_{o}[_b] = {o}" for o in self.full]
            element += [f"_g_{g}[_b] += {g}" for g in self.grads]  # a view per row, as for the data
            grads = [f"_g_{g} = _grad_{g}[_kc * (1 - _s_{g}), _a, _k * _s_{g}]" for g in self.grads]
            return task + ["for _k in range(_k0, _k0 + _w):", *indent([f"{v} = _C[{i}, _k]" for i, v in slices], 1),
                           "    for _a in range(_a0, _a1):", *indent(self.views(rows) + outputs + grads, 2),
                           "        for _b in range(_B):", *indent(element, 3)]

        def element(u: str, a: str) -> list[str]:  # the row _a + offset: its views end in u
            lines = [f"{r} = np.float64(_r_{r}{u}[_j])" for r in rows] + ops + [f"_w_{o}{u}[_j] = {o}" for o in self.full]
            return lines + [f"_grad_{g}[_kc * (1 - _s_{g}), {a}, (_k0 + _j) * _s_{g}, 0] += {g}" for g in self.grads]

        # rows in order, slices innermost: the per-slice values as views of _C
        task += [f"_c_{v} = _C[{i}, _k0:_k0 + _w]" for i, v in slices]
        per_slice = [f"{v} = _c_{v}[_j]" for _, v in slices]
        branches = []
        for u, width in ROWS_GROUPS:
            views = [f"_r_{r}_{i} = _in_{r}[_a + {i}, _k0:_k0 + _w]" for i in range(u) for r in rows]
            views += [f"_w_{o}_{i} = _out_{o}[_a + {i}, _k0:_k0 + _w]" for i in range(u) for o in self.full]
            grouped = per_slice + [line for i in range(u) for line in element(f"_{i}", f"_a + {i}")]
            branches.append((wide or width, _grouped("_a2", u, views, grouped)))
        return task + ["_a2 = _a0", *_branches(branches), "for _a in range(_a2, _a1):",
                       *indent(self.views(rows) + outputs, 1), "    for _j in range(_w):",
                       *indent(per_slice + element("", "_a"), 2)]


def _grouped(end: str, u: int, views: list[str], body: list[str]) -> list[str]:
    """A block's rows ``u`` at a time up to ``end`` (rows after it left over): ``views`` of ``_a`` to ``_a + u - 1``,
    then ``body`` along them."""
    return [f"{end} = _a0 + (_a1 - _a0) // {u} * {u}", f"for _a in range(_a0, {end}, {u}):", *indent(views, 1),
            "    for _j in range(_w):", *indent(body, 2)]


def _branches(branches: list[tuple[int, list[str]]]) -> list[str]:
    """The first branch whose row width ``_w`` is reached: ``if``/``elif`` on the width, a width of 0 unconditional
    (the branches after it never run, so none is printed)."""
    lines = []
    for width, body in branches:
        if width == 0:
            return lines + (["else:", *indent(body, 1)] if lines else body)
        lines += [f"{'elif' if lines else 'if'} _w >= {width}:", *indent(body, 1)]
    return lines


def _live(lines: list[str], made: list[str], later: set[str]) -> tuple[list[str], list[str]]:
    """``lines`` less those making a value of ``made`` that no later sweep (``later``) or line reads; the rest of made."""
    needed, out = set(later), []
    for line in reversed(lines):  # a line's value is read below it, if at all
        if line.split(" = ", 1)[0] not in made or line.split(" = ", 1)[0] in needed:
            needed, out = needed | words(line), [line, *out]
    return out, [v for v in made if v in later]


__all__ = ["DECORATOR", "Kernels"]
