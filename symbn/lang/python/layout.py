"""Where a value of the code lies: which of its axes is the slice, which are other slices.

symbn reads code that works on whole arrays (N × D for BatchNorm, whose slice is a
column; B × N for LayerNorm, whose slice is a row) but proves one slice.  Each value
of the code has a :class:`Layout`: one label per axis, in NumPy's order,

- ``S``: the slice axis (length N, what the layer reduces over);
- ``O``: an axis that counts slices (a value per slice along it);
- ``1``: an axis of length 1 (a reduction with ``keepdims=True``).

Broadcasting aligns trailing axes as NumPy does; putting ``S`` against ``O`` is what a
reduction that lost ``keepdims`` does in LayerNorm code: NumPy raises unless the two
lengths are equal, and then mixes slices.  The values themselves are the
realisations' (:mod:`symbn.realise`); a layout only says how the code's arrays line up.
"""

from __future__ import annotations

from dataclasses import dataclass

SLICE, OTHER, ONE = "S", "O", "1"
SHOWN = {SLICE: "N", OTHER: "B", ONE: "1"}


class Misaligned(ValueError):
    """Two layouts that put the slice axis against an axis of other slices."""


class AxisError(ValueError):
    """An axis out of range for the array's rank."""


@dataclass(frozen=True)
class Layout:
    dims: tuple[str, ...]

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def has_slice(self) -> bool:
        return SLICE in self.dims

    def show(self) -> str:
        """As a shape: N for the slice's length, B for the other slices' count."""
        inner = ", ".join(SHOWN[d] for d in self.dims)
        return f"({inner},)" if self.rank == 1 else f"({inner})"


SCALAR = Layout(())


def row(rank: int, axis: int) -> Layout:
    """A quantity that varies along the slice: the slice at ``axis``, slices elsewhere."""
    return Layout(tuple(SLICE if k == axis else OTHER for k in range(rank)))


def per_slice(rank: int, axis: int) -> Layout:
    """One value per slice, laid out so that it broadcasts (the slice axis kept as 1)."""
    return Layout(tuple(ONE if k == axis else OTHER for k in range(rank)))


def shared(rank: int, axis: int) -> Layout:
    """A parameter that varies along the slice and is shared by all slices (LayerNorm's gamma)."""
    return Layout(tuple(SLICE if k == axis else ONE for k in range(rank)))


def same(a: Layout, b: Layout) -> bool:
    """The same layout up to leading axes of length 1 ((N,) and (1, N))."""
    n = max(a.rank, b.rank)
    return (ONE,) * (n - a.rank) + a.dims == (ONE,) * (n - b.rank) + b.dims


def broadcast(a: Layout, b: Layout) -> Layout:
    """NumPy's broadcasting of two layouts; raises :class:`Misaligned`."""
    n = max(a.rank, b.rank)
    left = (ONE,) * (n - a.rank) + a.dims
    right = (ONE,) * (n - b.rank) + b.dims
    out = []
    for x, y in zip(left, right):
        if x == y or y == ONE:
            out.append(x)
        elif x == ONE:
            out.append(y)
        else:
            raise Misaligned(f"{a.show()} and {b.show()}")
    return Layout(tuple(out))


def axes(axis, rank: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple of ints) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(rank))
    items = axis if isinstance(axis, tuple) else (axis,)
    out = set()
    for a in items:
        if not isinstance(a, int) or isinstance(a, bool):
            raise AxisError(f"an axis is a whole number, not {a!r}")
        if not -rank <= a < rank:
            raise AxisError(f"axis {a} is out of range for an array of rank {rank}")
        out.add(a % rank)
    return tuple(sorted(out))


def reduce(layout: Layout, over: tuple[int, ...], keepdims: bool) -> tuple[Layout, set[str]]:
    """The layout after reducing over these axes, and the labels reduced."""
    labels = {layout.dims[k] for k in over}
    if keepdims:
        dims = tuple(ONE if k in over else d for k, d in enumerate(layout.dims))
    else:
        dims = tuple(d for k, d in enumerate(layout.dims) if k not in over)
    return Layout(dims), labels


def of_sizes(labels: tuple[str, ...]) -> Layout:
    return Layout(tuple(labels))


__all__ = ["ONE", "OTHER", "SCALAR", "SLICE", "AxisError", "Layout", "Misaligned", "axes", "broadcast", "of_sizes",
           "per_slice", "reduce", "row", "same", "shared"]
