"""A NumPy printer for one function body: stage equations and gradient formulas.

Values are per-slice (kind scalar: arrays of the kept shape, keepdims) or rows
(arrays that vary along the slice).  The printer tracks which row arrays the
function *owns* (allocated itself) and which have the data's *full* shape: an
owned, full array that nothing reads later is overwritten in place (``out=``), so
a pass over the data costs no allocation.

- Scalar expressions are printed inline; reductions are hoisted, named after what
  they sum (``sum_dy_xmu``) and computed once; a sum of a product is one
  ``_sum(axes, dy, xmu)`` (an einsum, no temporary).
- A row gradient ``c1*m1 + c2*m2 + c0`` is printed as: coefficients first (small
  arrays), then in-place scaling of owned arrays, then one multiply into the
  output buffer and one add per further term.
- A centring stage ``d = x - m`` with ``m = mean(x)`` is centred once more in
  float16/float32, where m is off by up to half an ulp.  By default d is corrected
  in place (``_recentre``).  With ``fold=True`` d is left as computed and its small
  per-slice mean c (``_offset``) is folded into what reads d, with no further pass:
  Σ d·m becomes Σ d·m - c·Σ m, Σ d² becomes Σ d² - n·c², a term k·d of a gradient
  adds -k·c to the constant (k·d·m adds a term -k·c·m).  A use it does not cover
  (a row stage computed from d, d twice with other factors) raises
  :class:`Unfoldable`, and the caller prints again without folding.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from fractions import Fraction

from symbn.ir.graph import Atom, Eqn
from symbn.ir.primitives import CONSTANT, ROW, SCALAR
from symbn.lang.expr import BinOp, Call, Expr, Name, Neg, Num, names

_UFUNC = {"add": "np.add", "sub": "np.subtract", "mul": "np.multiply", "div": "np.divide",
          "neg": "np.negative", "sqrt": "np.sqrt", "exp": "np.exp", "log": "np.log"}
_OP = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "**": 4}
_ATOM = 9

Term = tuple[Expr | None, list[Expr]]  # coefficient (None: 1) and row factors


def number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else repr(float(value))


def _wrap(text: str, prec: int, outer: int) -> str:
    return f"({text})" if prec <= outer else text


def _binary(left: str, op: str, right: str) -> str:
    return f"{left}{op}{right}" if op == "**" else f"{left} {op} {right}"


class Unfoldable(Exception):
    """A read of a centred stage that the offset fold does not cover."""


class Printer:
    def __init__(self, kinds: Mapping[str, str], data: str, row_inputs: Iterable[str], reserved: Iterable[str],
                 fold: bool = False):
        self.kinds = dict(kinds)
        self.fold = fold
        self.offsets: dict[str, str] = {}  # fold: centred stage -> its per-slice offset c (d as stored minus c is centred)
        self.row_inputs = set(row_inputs)
        self.lines: list[str] = []
        self.depth = 1
        self.owned: set[str] = set()
        self.full: set[str] = {data, "dy"}
        self.used = set(reserved) | set(kinds)
        self.hoisted: dict[Expr, str] = {}
        self.alias: dict[str, str] = {}  # graph temporaries (%k) -> printed names
        self.centred: set[str] = set()  # means re-centred after their centring stage
        self.given: dict[str, str] = {}  # centring mean m -> its offset c: m + c is the mean to rounding
        self.mean_of: dict[str, str] = {}  # ... and the row input m is the mean of
        self.unmeasured: set[str] = set()  # means split off a saved dict whose c may still be unknown (None)

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def fresh(self, base: str) -> str:
        for k in itertools.count():
            name = base if k == 0 else f"{base}_{k}"
            if name not in self.used:
                self.used.add(name)
                return name
        raise AssertionError  # pragma: no cover

    def kind(self, e: Expr) -> str:
        if isinstance(e, Num):
            return CONSTANT
        if isinstance(e, Name):
            return CONSTANT if e.id == "N" else self.kinds[e.id]
        if isinstance(e, Call) and e.fn in ("mean", "sum"):
            return SCALAR
        parts = [self.kind(c) for c in ((e.left, e.right) if isinstance(e, BinOp) else (e.arg,))]
        return ROW if ROW in parts else SCALAR if SCALAR in parts else CONSTANT

    # --- scalar expressions ----------------------------------------------------------

    def scalar(self, e: Expr, outer: int = 0) -> str:
        """A scalar-kind formula as inline NumPy text (its reductions hoisted)."""
        return _wrap(*self._scalar(e), outer)

    def _scalar(self, e: Expr) -> tuple[str, int]:
        if isinstance(e, Num):
            return (number(e.value), _ATOM) if e.value >= 0 else (f"-{number(-e.value)}", _PREC["neg"])
        if isinstance(e, Name):
            return self.read(e.id)
        if isinstance(e, Neg):
            return "-" + self.scalar(e.arg, _PREC["neg"]), _PREC["neg"]
        if isinstance(e, BinOp):
            p = _PREC[e.op]
            lo, ro = (p, p - 1) if e.op == "**" else (p - 1, p)
            return _binary(self.scalar(e.left, lo), e.op, self.scalar(e.right, ro)), p
        if e.fn in ("mean", "sum"):
            total = self.reduction(e.arg)
            return (f"{total} / n", _PREC["/"]) if e.fn == "mean" else (total, _ATOM)
        return f"np.{e.fn}({self.scalar(e.arg)})", _ATOM

    def reduction(self, body: Expr) -> str:
        """The name of Σ body over the slice (keepdims), computed once."""
        key = Call("sum", body)
        if key not in self.hoisted:
            scalars, rows = split(body, self.kind)
            if names(body) & set(self.offsets):
                self.hoisted[key] = self._folded_reduction(scalars, rows)
                return self.hoisted[key]
            if all(isinstance(f, Name) for f in rows):
                args = [f.id for f in rows] + ([self.scalar(product(scalars))] if scalars else [])
                label = "_".join(f.id for f in rows)
            else:
                args, label = [self.row_text(body)], "total"
            wide = ", wide=True" if len(args) == 1 and args[0] in self.row_inputs else ""
            name = self.fresh(f"sum_{label}")
            self.emit(f"{name} = _sum(axes, {', '.join(args)}{wide})")
            self.hoisted[key] = name
        return self.hoisted[key]

    def _folded_reduction(self, scalars: list[Expr], rows: list[Expr]) -> str:
        """Σ of a product that reads a centred stage d (stored as d + c), corrected by c."""
        if not all(isinstance(f, Name) for f in rows):
            raise Unfoldable
        ds = [k for k, f in enumerate(rows) if f.id in self.offsets]
        others = [f for k, f in enumerate(rows) if k not in ds]
        c = self.offsets[rows[ds[0]].id]
        scale = self.scalar(product(scalars), _PREC["*"]) if scalars else None
        count = "n" if scale is None else f"n * {scale}"
        if len(ds) == 1:
            correction = f"{c} * {self.reduction(product(others + scalars)) if others else count}"
        elif len(ds) == 2 and not others and rows[ds[0]] == rows[ds[1]]:
            correction = f"{count} * {c}**2"
        else:
            raise Unfoldable
        args = [f.id for f in rows] + ([self.scalar(product(scalars))] if scalars else [])
        name = self.fresh(f"sum_{'_'.join(f.id for f in rows)}")
        self.emit(f"{name} = _sum(axes, {', '.join(args)}) - {correction}")
        return name

    def row_text(self, e: Expr) -> str:
        """A row formula as plain NumPy text, allocating: the general fallback."""
        if self.kind(e) != ROW:
            return self.scalar(e)
        if isinstance(e, Name):
            return _wrap(*self.read(e.id), _PREC["+"])
        if isinstance(e, Neg):
            return f"np.negative({self.row_text(e.arg)})"
        if isinstance(e, BinOp):
            fn = {"+": "np.add", "-": "np.subtract", "*": "np.multiply", "/": "np.divide", "**": "np.power"}[e.op]
            return f"{fn}({self.row_text(e.left)}, {self.row_text(e.right)})"
        return f"np.{e.fn}({self.row_text(e.arg)})"

    # --- stage equations --------------------------------------------------------------

    def equations(self, eqns: tuple[Eqn, ...], keep: set[str]) -> None:
        """Print equations in order; ``keep``: names read after them.  A scalar
        temporary read once is inlined; a product read only by a reduction is fused
        into it; a row result goes into a dead operand's buffer when we own one."""
        uses: dict[str, list[Eqn]] = {}
        for e in eqns:
            for a in e.args:
                if isinstance(a, str):
                    uses.setdefault(a, []).append(e)
        fused = {e.out: e for e in eqns if self._fusable(e, uses.get(e.out, []), keep)}
        centring = centrings(eqns, self.row_inputs)
        self.centred = set(centring.values())
        inline: dict[str, tuple[str, int]] = {}
        for k, e in enumerate(eqns):
            if e.out in fused:
                continue
            later = keep | {a for q in eqns[k + 1:] for a in q.args if isinstance(a, str)}
            if self.kinds[e.out] == ROW:
                if any(a in self.offsets for a in e.args if isinstance(a, str)):
                    raise Unfoldable  # a row stage computed from d would need d - c as an array
                self._row_eqn(e, inline, later)
                if self._centring_of_given(e):
                    self._given_centre(e.out, e.args[0], e.args[1])
                elif e.out in centring and e.out in self.owned:
                    self._centre(e, centring[e.out], inline)
                continue
            text = self._scalar_eqn(e, inline, fused)
            if e.out.temp and len(uses.get(e.out, [])) == 1:
                inline[e.out] = text
            else:
                self.emit(f"{self.name_of(e)} = {text[0]}")

    def _centring_of_given(self, e: Eqn) -> bool:
        return e.prim.name == "sub" and e.args[1] in self.given and e.args[0] in self.row_inputs

    def _centre(self, e: Eqn, mean: str, inline) -> None:
        """After the first ``d = x - m``: d's own mean c is the offset of m (m + c is
        the mean to rounding, and d - c is centred).  d is re-centred in place, or c
        is folded into what reads d.  Every later ``z - m`` has the same offset, and
        every other read of m reads m + c."""
        stage = e.out
        d, named = self.alias.get(stage, stage), mean not in inline
        if not named and not self.fold:  # nothing else can read an unnamed mean
            self.emit(f"_recentre({d}, axes, n)")
            return
        # an unnamed mean is recomputed in every branch: its offset keeps the name it got first
        c = self.offsets.get(stage) or self.fresh(f"{mean if named else d}_c")
        self.kinds[c] = SCALAR
        if self.fold:
            self.offsets[stage] = c
            self.emit(f"{c} = _offset({d}, axes, n)")
        else:
            self.emit(f"{c} = _recentre({d}, axes, n)")
        if named:
            self.given[mean], self.mean_of[mean] = c, e.args[0]

    def _given_centre(self, stage: str, x: str, mean: str) -> None:
        """``d = z - m`` for a mean m whose offset c is known (computed above, or
        split off a saved mean, and then measured on m's own ``x - m`` if the split
        could not tell): c is folded where d is read, or d shifted in place."""
        d, c = self.alias.get(stage, stage), self.given[mean]
        if mean in self.unmeasured:
            self.unmeasured.discard(mean)
            own = self.mean_of[mean]
            on = d if x == own else f"np.subtract({own}, {mean})"
            self.emit(f"{c} = _measured({c}, {on}, axes, n)")
        if self.fold:
            self.offsets[stage] = c
        elif stage in self.owned:
            self.emit(f"{d} = _shift({d}, {c})")
        else:
            self.emit(f"{d} = {d} - {c}")

    def _fusable(self, e: Eqn, readers: list[Eqn], keep: set[str]) -> bool:
        if self.kinds[e.out] != ROW or e.out in keep or len(readers) != 1 or readers[0].prim.name not in ("mean", "sum"):
            return False
        return e.prim.name == "mul" or (e.prim.name == "pow" and e.args[1] == 2)

    def name_of(self, e: Eqn) -> str:
        if e.out.temp and e.out not in self.alias:
            self.alias[e.out] = self.fresh(f"{e.stage}_{e.out[1:]}")
        return self.alias.get(e.out, e.out)

    def atom(self, a: Atom, inline: Mapping[str, tuple[str, int]], outer: int = 0) -> str:
        if isinstance(a, Fraction):
            return _wrap(number(a), _ATOM if a >= 0 else _PREC["neg"], outer)
        if a in inline:
            return _wrap(*inline[a], outer)
        return _wrap(*self.read(self.alias.get(a, a)), outer)

    def read(self, name: str) -> tuple[str, int]:
        """A name as read (text, precedence): N is n, and a centring mean m is read as
        m + c, the mean to rounding (``x - m`` itself reads m as stored)."""
        if name in self.given:
            return self.corrected(name), _PREC["+"]
        return ("n" if name == "N" else name), _ATOM

    def corrected(self, mean: str) -> str:
        return f"{mean} + {self.given[mean]}"

    def _scalar_eqn(self, e: Eqn, inline, fused: Mapping[str, Eqn]) -> tuple[str, int]:
        if e.prim.name in ("mean", "sum"):
            src = fused.get(e.args[0])
            factors = [e.args[0]] if src is None else list(src.args) if src.prim.name == "mul" else [src.args[0]] * 2
            wide = ", wide=True" if src is None and e.args[0] in self.row_inputs and e.out not in self.centred else ""
            text, prec = f"_sum(axes, {', '.join(self.atom(f, inline) for f in factors)}{wide})", _ATOM
            ds = [f for f in factors if f in self.offsets]
            if ds:  # the stored d is d + c: Σ d·m = Σ stored·m - c·Σ m, Σ d² = Σ stored² - n·c²
                c, others = self.offsets[ds[0]], [f for f in factors if f != ds[0]]
                if len(ds) == 1 and all(isinstance(f, str) and self.kinds.get(f) == ROW for f in others):
                    fix = f"{c} * " + (f"_sum(axes, {', '.join(self.atom(f, inline) for f in others)})" if others else "n")
                elif len(ds) == 2 == len(factors) and ds[0] == ds[1]:
                    fix = f"n * {c}**2"
                else:
                    raise Unfoldable
                text, prec = f"{text} - {fix}", _PREC["-"]
            return (f"{_wrap(text, prec, _PREC['/'] - 1)} / n", _PREC["/"]) if e.prim.name == "mean" else (text, prec)
        if e.prim.name in _OP:
            p = _PREC[_OP[e.prim.name]]
            lo, ro = (p, p - 1) if e.prim.name == "pow" else (p - 1, p)
            return _binary(self.atom(e.args[0], inline, lo), _OP[e.prim.name], self.atom(e.args[1], inline, ro)), p
        if e.prim.name == "neg":
            return "-" + self.atom(e.args[0], inline, _PREC["neg"]), _PREC["neg"]
        if e.prim.name == "id":
            return self.atom(e.args[0], inline), _ATOM
        return f"{_UFUNC[e.prim.name]}({self.atom(e.args[0], inline)})", _ATOM

    def _row_eqn(self, e: Eqn, inline, later: set[str]) -> None:
        name = self.name_of(e)
        args = [self.atom(a, inline) for a in e.args]
        if self._centring_of_given(e):  # x - m reads m as stored; its offset is taken off below
            args[1] = self.alias.get(e.args[1], e.args[1])
        operands = [a for a in e.args if isinstance(a, str)]
        full = any(a in self.full for a in operands)
        if e.prim.name == "id":
            self.emit(f"{name} = {args[0]}")
            self.owned |= {e.out} if e.args[0] in self.owned else set()
        else:
            fn, args = _ufunc(e.prim.name, e.args, args)
            dead = [a for a in operands if a in self.owned and a in self.full and a not in later] if full else []
            out = f", out={self.alias.get(dead[0], dead[0])}" if dead else ""
            self.emit(f"{name} = {fn}({', '.join(args)}{out})")
            self.owned.add(e.out)
        if full:
            self.full.add(e.out)

    # --- gradients ---------------------------------------------------------------------

    def coefficient(self, grad: str, c: Expr | None, label: str) -> str | None:
        """The name of a per-slice coefficient (None for 1), computed once."""
        if c is None:
            return None
        if isinstance(c, (Name, Num)):
            return self.scalar(c)
        if c not in self.hoisted:
            text = self.scalar(c)
            self.hoisted[c] = self.fresh(f"{grad}_{label}")
            self.emit(f"{self.hoisted[c]} = {text}")
        return self.hoisted[c]

    def prepare(self, grad: str, e: Expr, full: bool = True):
        """Split a row gradient into [outer coefficient ×] (Σ terms + constant) and
        print its coefficients now, before any row array is overwritten.  ``full``:
        the gradient has the data's shape (else it is summed to a smaller one).
        Returns (outer, terms, coefficients, constant, offsets): ``offsets[k]`` names
        the offset c that multiplies term k (a fold correction), else None."""
        terms, constant = split_terms(e, self.kind)
        outer = None
        if len(terms) == 1 and constant is None and len(terms[0][1]) == 1 and _is_sum(terms[0][1][0]):
            outer = self.coefficient(grad, terms[0][0], "scale")
            terms, constant = split_terms(terms[0][1][0], self.kind)
        coeffs = [self.coefficient(grad, c, "_".join(getattr(f, "id", "t") for f in row)) for c, row in terms]
        marks: list[str | None] = [None] * len(terms)
        if self.offsets:
            terms, coeffs, marks, constant = self._fold_terms(grad, terms, coeffs, constant, full)
        return outer, terms, coeffs, self.coefficient(grad, constant, "shift"), marks

    def _fold_terms(self, grad: str, terms: list[Term], coeffs: list[str | None], constant: Expr | None, full: bool):
        """Terms k·d·m of a centred stage d stored as d + c: add -k·c to the constant
        when m is 1, else (a gradient summed to a smaller shape only) a term -k·m
        marked with c.  The coefficients k are already printed."""
        terms, coeffs, marks = list(terms), list(coeffs), [None] * len(terms)
        for (k, row), text in list(zip(terms, coeffs)):
            ds = [f for f in row if isinstance(f, Name) and f.id in self.offsets]
            if len(ds) > 1 or any(not isinstance(f, Name) and names(f) & set(self.offsets) for f in row):
                raise Unfoldable
            if not ds:
                continue
            c = Name(self.offsets[ds[0].id])
            if k is not None and not isinstance(k, (Name, Num)):
                k = Name(text)
                self.kinds.setdefault(text, SCALAR)
            fix = c if k is None else BinOp("*", k, c)
            others = list(row)
            others.remove(ds[0])
            if not others:
                constant = Neg(fix) if constant is None else BinOp("-", constant, fix)
            elif full:  # an extra pass and array over the data: re-centring is cheaper
                raise Unfoldable
            else:
                minus_k = Neg(Num(Fraction(1))) if k is None else Neg(k)
                terms.append((minus_k, others))
                coeffs.append(self.coefficient(grad, minus_k, "_".join(getattr(f, "id", "t") for f in others)))
                marks.append(c.id)
        return terms, coeffs, marks, constant

    def full_gradient(self, grad: str, prepared, later: set[str]) -> None:
        """grad = [outer ×] (Σ coefficient·monomial + constant), of the data's shape.
        ``grad`` holds the caller's output buffer or None; the terms are summed in
        place in that buffer, or else in an array of ours that nobody reads later."""
        outer, terms, coeffs, c0, _ = prepared
        counts: dict[str, int] = {}
        for _, row in terms:
            for f in row:
                counts[getattr(f, "id", "")] = counts.get(getattr(f, "id", ""), 0) + 1

        def free(row: list[Expr]) -> bool:
            return (len(row) == 1 and isinstance(row[0], Name) and row[0].id in self.owned
                    and row[0].id in self.full and row[0].id not in later and counts[row[0].id] == 1)

        def has_full(row: list[Expr]) -> bool:
            return any(isinstance(f, Name) and f.id in self.full for f in row)

        if not terms:
            self.emit(f"{grad} = np.empty(shape, dtype) if {grad} is None else {grad}")
            self.emit(f"np.copyto({grad}, {c0})")
            terms, coeffs, c0 = [], [], None
        else:
            order = sorted(range(len(terms)), key=lambda k: (not free(terms[k][1]), not has_full(terms[k][1])))
            first, rest = order[0], order[1:]
            row, coeff = terms[first][1], coeffs[first]
            if free(row):  # sum in this array unless the caller gave a buffer
                self.emit(f"{grad} = {row[0].id} if {grad} is None else {grad}")
            elif not has_full(row):
                self.emit(f"{grad} = np.empty(shape, dtype) if {grad} is None else {grad}")
            self._product(grad, row, coeff, grad)
            if c0 is not None:
                self.emit(f"np.add({grad}, {c0}, out={grad})")
            for k in rest:
                row = terms[k][1]
                if coeffs[k] is None and len(row) == 1 and isinstance(row[0], Name):
                    self.emit(f"np.add({grad}, {row[0].id}, out={grad})")
                    continue
                buf = row[0].id if free(row) else self.fresh("scratch")
                self._product(buf, row, coeffs[k], buf if free(row) else "None")
                self.emit(f"np.add({grad}, {buf}, out={grad})")
        if outer is not None:
            self.emit(f"np.multiply({grad}, {outer}, out={grad})")

    def _product(self, name: str, row: list[Expr], coeff: str | None, target: str) -> None:
        """name = coeff · Π row, written into ``target`` (None: a new array)."""
        arrays = [f.id if isinstance(f, Name) else self.row_text(f) for f in row]
        factors = arrays + ([coeff] if coeff is not None else [])
        if len(factors) == 1:
            self.emit(f"{name} = np.positive({factors[0]}, out={target})")
            return
        self.emit(f"{name} = np.multiply({factors[0]}, {factors[1]}, out={target})")
        for f in factors[2:]:
            self.emit(f"np.multiply({name}, {f}, out={name})")

    def reduced_gradient(self, grad: str, prepared, shape: str) -> None:
        """A gradient summed down to ``shape`` (an input broadcast against the data):
        one einsum per term, no full-size temporary."""
        outer, terms, coeffs, c0, marks = prepared
        if outer is not None:  # a factored sum: the inner sum is reduced term by term
            terms = [(c, row) for c, row in terms]
            coeffs = [outer if c is None else f"{outer} * {c}" for c in coeffs]
            c0 = None if c0 is None else f"{outer} * {c0}"
        parts = []
        for (_, row), coeff, mark in zip(terms, coeffs, marks):
            arrays = [f.id if isinstance(f, Name) else self.row_text(f) for f in row]
            parts.append(f"_sum_to({shape}, {', '.join(arrays + ([coeff] if coeff else []))})" if mark is None else
                         f"_sum_to_offset({shape}, {mark}, {', '.join(arrays + ([coeff] if coeff else []))})")
        if c0 is not None:  # c0 at every element of the slice, summed to the input's shape
            parts.append(f"_sum_to({shape}, np.broadcast_to({c0}, shape))")
        self.emit(f"{grad} = {' + '.join(parts)}")


# --- formula structure ------------------------------------------------------------------


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


def split(e: Expr, kind) -> tuple[list[Expr], list[Expr]]:
    """A product (or a quotient by a scalar) as its scalar factors and row factors."""
    if isinstance(e, BinOp) and e.op == "*":
        s1, r1 = split(e.left, kind)
        s2, r2 = split(e.right, kind)
        return s1 + s2, r1 + r2
    if isinstance(e, BinOp) and e.op == "/" and kind(e.right) != ROW:
        s, r = split(e.left, kind)
        return [BinOp("/", product(s) or Num(Fraction(1)), e.right)], r
    return ([], [e]) if kind(e) == ROW else ([e], [])


def product(factors: list[Expr], op: str = "*") -> Expr | None:
    out = None
    for f in factors:
        out = f if out is None else BinOp(op, out, f)
    return out


def centrings(eqns: tuple[Eqn, ...], row_inputs: set[str]) -> dict[str, str]:
    """Centring stages ``d = x - m`` with ``m = mean(x)`` of an input row, read by
    nothing in between: d is re-centred after it is computed (``_recentre``), or
    its offset is taken (``_offset``) and folded into what reads d."""
    out = {}
    for k, m in enumerate(eqns):
        if m.prim.name != "mean" or m.args[0] not in row_inputs:
            continue
        for e in eqns[k + 1:]:
            if e.prim.name == "sub" and e.args == (m.args[0], m.out):
                out[e.out] = m.out
            if m.out in e.args:
                break
    return out


def _ufunc(prim: str, atoms: tuple, args: list[str]) -> tuple[str, list[str]]:
    if prim == "pow":
        if atoms[1] == 2:
            return "np.square", args[:1]
        if atoms[1] == Fraction(1, 2):
            return "np.sqrt", args[:1]
        return "np.power", args
    return _UFUNC[prim], args
