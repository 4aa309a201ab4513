"""The operations code performs on arrays, as graph equations over one slice.

Arithmetic broadcasts layouts as NumPy does (:mod:`.layout`) and emits one equation
per primitive through a :class:`~symbn.ir.graph.Builder`; Python numbers fold
exactly.  A reduction over the slice axis is the layer's ``sum``/``mean``; over an
axis that counts slices it is what code does for a parameter shared by slices
(LayerNorm's ``dgamma = (dout*xhat).sum(0)``): the value per slice is the summand,
and the value is marked, so that meeting per-slice values later is the error a user
must see ("line 12 reduces over axis 1, but the slice is axis 0").
"""

from __future__ import annotations

import ast
from fractions import Fraction

from symbn.ir.graph import Atom, Builder, KindError, Var, kind_of
from symbn.ir.primitives import CONSTANT, ROW, Primitive, div_p, mean_p, mul_p, pow_p, sub_p, sum_p
from symbn.lang.expr import MAX_EXPONENT
from symbn.lang.python import layout
from symbn.lang.python.layout import Layout
from symbn.lang.python.source import CodeError, Unit
from symbn.lang.python.values import Array, Const, Container, Dropped, Seq, Size, Unbound, describe, number

MAX_EQNS = 20_000


class ShapeFault(Exception):
    """NumPy would raise here: the code has no value (see :class:`~.program.Fault`)."""

    def __init__(self, node: ast.AST, message: str, blame: Dropped | None = None):
        super().__init__(message)
        self.node, self.message, self.blame = node, message, blame


class Operations:
    """Values of the code as equations; ``describe_unbound`` comes from the binder."""

    def __init__(self, unit: Unit, builder: Builder, N: Var, rank: int, axis: int):
        self.unit, self.builder, self.N, self.rank, self.axis = unit, builder, N, rank, axis

    def error(self, node: ast.AST | None, message: str) -> CodeError:
        return self.unit.error(node, message)

    def unbound(self, u: Unbound) -> str:  # pragma: no cover - the interpreter's binder says it
        return f"'{u.name}' is not bound"

    # --- coercions ------------------------------------------------------------------------

    def operand(self, v, node: ast.AST) -> Array | int | Fraction:
        """A value used in arithmetic: an array, or an exact Python number."""
        if isinstance(v, Array):
            return v
        if isinstance(v, Const) and v.number:
            return v.value
        if isinstance(v, Size):
            if v.label == layout.ONE:
                return 1
            if v.label == layout.SLICE:
                return Array(self.N, layout.SCALAR)
            raise self.error(node, f"the length of axis {v.axis} counts slices (the slice is axis {self.axis}): "
                                   "a value of one slice cannot depend on it")
        if isinstance(v, Unbound):
            raise self.error(node, self.unbound(v))
        if isinstance(v, Container):
            raise self.error(node, self.container(v))
        raise self.error(node, f"{describe(v)} cannot be used as a number or an array here")

    def container(self, v: Container) -> str:
        return (f"'{v.name}' is a parameter that is not a quantity of the layer: bind it (--bind {v.name}=NAME), "
                "or read its entries by name")

    def array(self, v, node: ast.AST) -> Array:
        x = self.operand(v, node)
        return x if isinstance(x, Array) else Array(number(x), layout.SCALAR)

    def const(self, value) -> Const:
        return Const(value)

    def plain(self, v, what: str, node: ast.AST):
        """A Python value of an argument (an axis, a flag): None, bool, int or a tuple of ints."""
        if isinstance(v, Const):
            return v.value
        if isinstance(v, Seq):
            return tuple(self.plain(x, what, node) for x in v.items)
        if v is None or isinstance(v, (bool, int)):
            return v
        if isinstance(v, Unbound):
            raise self.error(node, self.unbound(v))
        raise self.error(node, f"{what} must be a constant here, not {describe(v)}")

    def integer(self, v, what: str, node: ast.AST) -> int:
        value = self.plain(v, what, node)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(node, f"{what} must be a whole number, not {value!r}")
        return value

    def flag(self, v, what: str, node: ast.AST) -> bool:
        value = self.plain(v, what, node)
        if not isinstance(value, bool):
            raise self.error(node, f"{what} must be True or False, not {value!r}")
        return value

    def no_out(self, out, node: ast.AST) -> None:
        if out is not None and not (isinstance(out, Const) and out.value is None):
            raise self.error(node, "out= is not supported: write the result to a new name")

    # --- arithmetic -------------------------------------------------------------------------

    def apply(self, prim: Primitive, args: list, node: ast.AST):
        """An elementwise primitive on values: folded if all are numbers, else an equation."""
        ops = [self.operand(a, node) for a in args]
        if not any(isinstance(o, Array) for o in ops):
            folded = self.fold(prim, ops, node)
            if folded is not None:
                return Const(folded)
        arrays = [o if isinstance(o, Array) else Array(number(o), layout.SCALAR) for o in ops]
        self._check_across(arrays, node)
        shape = arrays[0].layout
        for other in arrays[1:]:
            try:
                shape = layout.broadcast(shape, other.layout)
            except layout.Misaligned:
                raise ShapeFault(node, self._misaligned(arrays, node), next((a.dropped for a in arrays if a.dropped), None)) from None
        if prim is pow_p:
            self._check_power(arrays[1].atom, node)
        atom = self.emit(prim, tuple(a.atom for a in arrays), node)
        across = next((a.across for a in arrays if a.across), None)
        return Array(atom, shape, across, next((a.dropped for a in arrays if a.dropped), None))

    def fold(self, prim: Primitive, ops: list, node: ast.AST):
        """Python's arithmetic on exact numbers (None: not a number, e.g. 2**0.5)."""
        if prim.arity == 1:
            return -ops[0] if prim.name == "neg" else None
        a = number(ops[0])
        b = number(ops[1])
        if prim.name == "div" and b == 0:
            raise self.error(node, "division by zero")
        if prim.name == "pow":
            if b.denominator != 1 or abs(b) > MAX_EXPONENT or (a == 0 and b < 0):
                return None
            result = a ** int(b)
        else:
            result = {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b}.get(prim.name)
        if result is None:
            return None
        both_int = all(isinstance(o, int) for o in ops) and prim.name != "div"
        return int(result) if both_int and result.denominator == 1 else result

    def emit(self, prim: Primitive, args: tuple[Atom, ...], node: ast.AST) -> Atom:
        if len(self.builder.eqns) >= MAX_EQNS:
            raise self.error(node, f"the code computes more than {MAX_EQNS} operations over one slice")
        try:
            return self.builder.emit(prim, args, f"line {getattr(node, 'lineno', 0)}")
        except KindError as err:  # pragma: no cover - reductions are checked before they are emitted
            raise self.error(node, str(err)) from None

    def _check_power(self, exponent: Atom, node: ast.AST) -> None:
        if isinstance(exponent, Fraction) and abs(exponent) > MAX_EXPONENT:
            raise self.error(node, f"the exponent {exponent} is larger than {MAX_EXPONENT} in size")

    def _check_across(self, arrays: list[Array], node: ast.AST) -> None:
        """A sum over other slices may meet only constants and other such sums."""
        marked = next((a.across for a in arrays if a.across), None)
        if marked is None:
            return
        if any(a.across is None and kind_of(a.atom) != CONSTANT for a in arrays):
            raise self._across_error(marked, node)

    def _across_error(self, marked: tuple, node: ast.AST) -> CodeError:
        line, axis = marked[:2]
        return self.error(node, f"line {line} reduces over axis {axis}, but the slice is axis {self.axis}: its "
                                f"result is used here with values of one slice")

    def _misaligned(self, arrays: list[Array], node: ast.AST) -> str:
        shapes = " and ".join(a.layout.show() for a in arrays)
        text = (f"NumPy cannot broadcast {shapes} (N: the slice's length, B: the number of slices) unless "
                "B = N, and then it mixes slices")
        dropped = next((a.dropped for a in arrays if a.dropped), None)
        if dropped is not None:
            text += f"; line {dropped.line} reduced without keepdims=True, giving {dropped.got}, not {dropped.kept}"
        return text

    # --- reductions -----------------------------------------------------------------------------

    def reduce(self, value, axis, keepdims, how: str, ddof: int, node: ast.AST) -> Array:
        """sum, mean or var (with ``ddof``) over ``axis`` (None: all axes)."""
        a = self.array(value, node)
        keep = self.flag(keepdims, "keepdims", node)
        try:
            over = layout.axes(self.plain(axis, "axis", node), a.layout.rank)
        except layout.AxisError as err:
            raise self.error(node, str(err)) from None
        shape, labels = layout.reduce(a.layout, over, keep)
        across = a.across
        if layout.SLICE in labels and a.across:
            raise self._across_error(a.across, node)
        if layout.OTHER in labels:
            other = next(k for k in over if a.layout.dims[k] == layout.OTHER)
            across = (node.lineno, other, how)  # a mean or var here is an error if it is returned
        atom = self._over_slice(a.atom, how, ddof, node) if layout.SLICE in labels else a.atom
        dropped = a.dropped
        if not keep and shape.rank < a.layout.rank:
            kept, _ = layout.reduce(a.layout, over, True)
            dropped = Dropped(node.lineno, node.col_offset + 1, kept.show(), shape.show())
        return Array(atom, shape, across, dropped)

    def _over_slice(self, atom: Atom, how: str, ddof: int, node: ast.AST) -> Atom:
        row = kind_of(atom) == ROW
        if how == "mean":
            return self.emit(mean_p, (atom,), node) if row else atom
        if how == "sum":
            return self.emit(sum_p, (atom,), node) if row else self.emit(mul_p, (self.N, atom), node)
        if not row:
            return Fraction(0)
        centred = self.emit(sub_p, (atom, self.emit(mean_p, (atom,), node)), node)
        square = self.emit(pow_p, (centred, Fraction(2)), node)
        if ddof == 0:
            return self.emit(mean_p, (square,), node)
        size = self.emit(sub_p, (self.N, Fraction(ddof)), node)
        return self.emit(div_p, (self.emit(sum_p, (square,), node), size), node)

    # --- shapes --------------------------------------------------------------------------------

    def shape(self, a: Array) -> Seq:
        return Seq(tuple(Size(d, k) for k, d in enumerate(a.layout.dims)))

    def index(self, seq, index, node: ast.AST):
        if not isinstance(seq, Seq):
            raise self.error(node, f"{describe(seq)} cannot be indexed; symbn indexes shapes and tuples only")
        k = self.integer(index, "an index", node)
        if not -len(seq.items) <= k < len(seq.items):
            raise self.error(node, f"index {k} is out of range for a tuple of {len(seq.items)}")
        return seq.items[k]

    def shape_of(self, v, node: ast.AST) -> Layout:
        """The layout of ``np.ones(shape)``: lengths read from ``x.shape`` (or 1)."""
        items = v.items if isinstance(v, Seq) else (v,)
        labels = []
        for item in items:
            if isinstance(item, Size):
                labels.append(item.label)
            elif isinstance(item, Const) and item.value == 1 and not isinstance(item.value, bool):
                labels.append(layout.ONE)
            else:
                raise self.error(node, f"a length in a shape must be read from an array's .shape (or be 1), "
                                       f"not {describe(item)}")
        return layout.of_sizes(tuple(labels))

    def filled(self, value: Fraction, shape: Layout) -> Array:
        return Array(value, shape)

    def copy(self, a: Array) -> Array:
        return Array(a.atom, a.layout, a.across, a.dropped)


__all__ = ["Operations", "ShapeFault"]
