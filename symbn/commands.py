"""The commands that render and emit: registered here so ``cli`` stays small and
their modules load only when used."""

from __future__ import annotations


def register(sub) -> None:
    """Add latex, graph, emit and check-numeric to the ``symbn`` parser."""
