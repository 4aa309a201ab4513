"""NumPy text of the gradients: per-slice coefficients first, then few passes over the data.

A row gradient ``c1*m1 + c2*m2 + c0`` (a fast form, :mod:`.rearrange`) is printed
as: its coefficients first (small arrays, before any row array is overwritten),
then one multiply into the output buffer, one add per further term and in-place
scaling by a common factor, in arrays that :mod:`.buffers` finds free.  A gradient
of an input smaller than the data is summed to its shape term by term (one einsum
each, no full-size temporary).  A scalar gradient is one inline expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from symbn.emit.centring import Term
from symbn.emit.plan import Plan
from symbn.emit.printer import Printer, call, product, split
from symbn.ir.primitives import CONSTANT, ROW, SCALAR, add_p, mul_p
from symbn.lang.expr import BinOp, Expr, Name, Neg, Num, names


def gradients(p: Printer, plan: Plan, shapes: dict[str, str], outputs: Sequence[str] | None = None,
              arrays: Sequence[str] | None = None) -> None:
    """Coefficients of every formula first (they read the rows), then gradients
    summed to a smaller shape, then full-shape gradients (which may overwrite rows).
    ``shapes``: each input's original-shape variable.  ``outputs``: the gradients'
    targets in order (default the differentiable inputs; a double backward adds dy);
    ``arrays``: the function's array arguments (default dy and the inputs), which a
    caller's output buffer must not share memory with."""
    layer = plan.layer
    outputs = tuple(layer.differentiable if outputs is None else outputs)
    if arrays is None:
        arrays = ["dy", *(n for n, i in layer.inputs.items() if i.kind != CONSTANT)]
    count = len(outputs)
    full = [w for w in outputs if w == plan.data or (w == "dy" and p.kinds[w] == ROW)]  # the data's shape
    prepared = {w: prepare(p, "d" + w, plan.formulas[w], full=w in full) if p.kinds[w] == ROW
                else p.scalar(plan.formulas[w]) for w in outputs}
    results = {}
    for k, w in enumerate(outputs):
        if w in full:
            continue
        grad = "d" + w
        if p.kinds[w] == ROW:
            reduced_gradient(p, grad, prepared[w], f"{w}.shape")
        else:
            p.emit(f"{grad} = _sum_to({w}.shape, np.broadcast_to({prepared[w]}, kshape))")
        results[w] = f"_store({grad}.reshape({shapes[w]}), _out(out, {k}, {count}), result)"
    for k, w in enumerate(outputs):
        if w not in full:
            continue
        grad = "d" + w
        later = set().union(*(names(plan.formulas[v]) for v in full[full.index(w) + 1:]))
        given = p.fresh(f"{grad}_out")
        p.emit(f"{given} = _out(out, {k}, {count})")
        p.emit(f"{grad} = _usable({given}, dtype, shape, {', '.join(arrays)})")
        full_gradient(p, grad, prepared[w], later)
        results[w] = f"_store({grad}, {given}, result)"
    p.emit(f"return {', '.join(results[w] for w in outputs)}{',' if count == 1 else ''}")  # a tuple


def prepare(p: Printer, grad: str, e: Expr, full: bool = True):
    """Split a row gradient into [outer coefficient ×] (Σ terms + constant) and
    print its coefficients now, before any row array is overwritten.  ``full``:
    the gradient has the data's shape (else it is summed to a smaller one).
    Returns (outer, terms, coefficients, constant, marks): ``marks[k]`` names the
    offset c that multiplies term k (a fold correction, :mod:`.centring`), else None."""
    terms, constant = split_terms(e, p.kind)
    outer = None
    if len(terms) == 1 and constant is None and len(terms[0][1]) == 1 and _is_sum(terms[0][1][0]):
        outer = coefficient(p, grad, terms[0][0], "scale")
        terms, constant = split_terms(terms[0][1][0], p.kind)
    coeffs = [coefficient(p, grad, c, label(row)) for c, row in terms]
    marks: list[str | None] = [None] * len(terms)
    if p.centring.offsets:
        terms, coeffs, marks, constant = p.centring.fold_terms(
            terms, coeffs, constant, full, lambda c, row: coefficient(p, grad, c, label(row)))
    return outer, terms, coeffs, coefficient(p, grad, constant, "shift"), marks


def coefficient(p: Printer, grad: str, c: Expr | None, suffix: str) -> str | None:
    """The name of a per-slice coefficient of ``grad`` (None for 1), computed once."""
    if c is None:
        return None
    if isinstance(c, (Name, Num)):
        return p.scalar(c)
    if c not in p.hoisted:
        text = p.scalar(c)
        p.hoisted[c] = p.fresh(f"{grad}_{suffix}")
        p.kinds[p.hoisted[c]] = SCALAR
        p.emit(f"{p.hoisted[c]} = {text}")
    return p.hoisted[c]


def label(row: list[Expr]) -> str:
    """Part of a coefficient's name: the names of the row factors it multiplies."""
    return "_".join(getattr(f, "id", "t") for f in row)


def full_gradient(p: Printer, grad: str, prepared, later: set[str]) -> None:
    """grad = [outer ×] (Σ coefficient·monomial + constant), of the data's shape.
    ``grad`` holds the caller's output buffer or None; the terms are summed in
    place in that buffer, or else in an array of ours that nobody reads later."""
    outer, terms, coeffs, c0, _ = prepared
    counts: dict[str, int] = {}
    for _, row in terms:
        for f in row:
            counts[getattr(f, "id", "")] = counts.get(getattr(f, "id", ""), 0) + 1

    def free(row: list[Expr]) -> bool:
        return (len(row) == 1 and isinstance(row[0], Name) and p.buffers.free(row[0].id, later)
                and counts[row[0].id] == 1)

    def has_full(row: list[Expr]) -> bool:
        return any(isinstance(f, Name) and f.id in p.buffers.full for f in row)

    if not terms:
        p.emit(f"{grad} = np.empty(shape, dtype) if {grad} is None else {grad}")
        p.emit(f"np.copyto({grad}, {c0})")
    else:
        order = sorted(range(len(terms)), key=lambda k: (not free(terms[k][1]), not has_full(terms[k][1])))
        first, rest = order[0], order[1:]
        row, coeff = terms[first][1], coeffs[first]
        if free(row):  # sum in this array unless the caller gave a buffer
            p.emit(f"{grad} = {row[0].id} if {grad} is None else {grad}")
        elif not has_full(row):
            p.emit(f"{grad} = np.empty(shape, dtype) if {grad} is None else {grad}")
        _product(p, grad, row, coeff, grad)
        if c0 is not None:
            p.emit(call(add_p.numpy, [grad, c0], grad))
        for k in rest:
            row = terms[k][1]
            if coeffs[k] is None and len(row) == 1 and isinstance(row[0], Name):
                p.emit(call(add_p.numpy, [grad, row[0].id], grad))
                continue
            buf = row[0].id if free(row) else p.fresh("scratch")
            _product(p, buf, row, coeffs[k], buf if free(row) else "None")
            p.emit(call(add_p.numpy, [grad, buf], grad))
    if outer is not None:
        p.emit(call(mul_p.numpy, [grad, outer], grad))


def _product(p: Printer, name: str, row: list[Expr], coeff: str | None, target: str) -> None:
    """name = coeff · Π row, written into ``target`` (None: a new array)."""
    arrays = [f.id if isinstance(f, Name) else p.row_text(f) for f in row]
    factors = arrays + ([coeff] if coeff is not None else [])
    if len(factors) == 1:
        p.emit(f"{name} = np.positive({factors[0]}, out={target})")
        return
    p.emit(f"{name} = {call(mul_p.numpy, factors[:2], target)}")
    for f in factors[2:]:
        p.emit(call(mul_p.numpy, [name, f], name))


def reduced_gradient(p: Printer, grad: str, prepared, shape: str) -> None:
    """A gradient summed down to ``shape`` (an input broadcast against the data):
    one einsum per term, no full-size temporary."""
    outer, terms, coeffs, c0, marks = prepared
    if outer is not None:  # a factored sum: the inner sum is reduced term by term
        coeffs = [outer if c is None else f"{outer} * {c}" for c in coeffs]
        c0 = None if c0 is None else f"{outer} * {c0}"
    parts = []
    for (_, row), coeff, mark in zip(terms, coeffs, marks):
        arrays = [f.id if isinstance(f, Name) else p.row_text(f) for f in row] + ([coeff] if coeff else [])
        parts.append(f"_sum_to({shape}, {', '.join(arrays)})" if mark is None else
                     f"_sum_to_offset({shape}, {mark}, {', '.join(arrays)})")
    if c0 is not None:  # c0 at every element of the slice, summed to the input's shape
        parts.append(f"_sum_to({shape}, np.broadcast_to({c0}, shape))")
    p.emit(f"{grad} = {' + '.join(parts)}")


def split_terms(e: Expr, kind) -> tuple[list[Term], Expr | None]:
    """e as Σ coefficient·(row factors) + constant, with the signs in the coefficients."""
    terms: list[Term] = []
    constants: list[Expr] = []

    def walk(x: Expr, negative: bool) -> None:
        if kind(x) != ROW:
            constants.append(Neg(x) if negative else x)
        elif isinstance(x, BinOp) and x.op in "+-":
            walk(x.left, negative)
            walk(x.right, negative != (x.op == "-"))
        elif isinstance(x, Neg):
            walk(x.arg, not negative)
        else:
            scalars, rows = split(x, kind)
            c = product(scalars)
            terms.append(((Neg(c) if c is not None else Neg(Num(Fraction(1)))) if negative else c, rows))

    walk(e, False)
    return terms, product(constants, "+")


def _is_sum(e: Expr) -> bool:
    return (isinstance(e, BinOp) and e.op in "+-") or isinstance(e, Neg)


__all__ = ["coefficient", "full_gradient", "gradients", "prepare", "reduced_gradient", "split_terms"]
