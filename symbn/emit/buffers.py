"""Which arrays a function may write into: those it owns that have the data's full shape.

The emitted functions never write into what the caller passed (dy, the inputs).
An array the function *owns* (allocated itself) that has the data's *full* shape
and that nothing reads later is overwritten in place (``out=``), so a pass over
the data costs no allocation: a row equation writes into a dead operand, a
gradient is summed in a dead row stage.  The printer (:mod:`.printer`) and the
gradients (:mod:`.gradients`) ask; :class:`Buffers` keeps the two sets.
"""

from __future__ import annotations

from collections.abc import Iterable


class Buffers:
    """The row arrays one function owns, and those of the data's full shape."""

    def __init__(self, data: str):
        self.owned: set[str] = set()
        self.full: set[str] = {data, "dy"}

    def free(self, name: str, later: set[str]) -> bool:
        """``name`` may be overwritten: ours, of full shape, read by nothing ``later``."""
        return name in self.owned and name in self.full and name not in later

    def dead(self, operands: Iterable[str], later: set[str]) -> str | None:
        """The operand to write a row equation's result into, if its result has the
        full shape and an operand is free."""
        operands = list(operands)
        if not any(a in self.full for a in operands):
            return None
        return next((a for a in operands if self.free(a, later)), None)

    def made(self, out: str, operands: Iterable[str], owned: bool) -> None:
        """``out`` was computed from ``operands`` (into an array of ours if ``owned``)."""
        if owned:
            self.owned.add(out)
        if any(a in self.full for a in operands):
            self.full.add(out)

    def other_branch(self) -> tuple[set[str], set[str]]:
        """Start an ``else:``: nothing computed in the first branch is owned here.
        Returns what the first branch left, for :meth:`join`."""
        first = set(self.owned), set(self.full)
        self.owned = set()
        return first

    def join(self, first: tuple[set[str], set[str]]) -> None:
        """After both branches: owned and full only what is so in both."""
        self.owned &= first[0]
        self.full &= first[1]


__all__ = ["Buffers"]
