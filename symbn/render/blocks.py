"""The document as data: the blocks :mod:`.content` builds and :mod:`.latex` prints.

A :class:`Document` is a title and a list of blocks: headings, prose with inline math
(:class:`Text`), aligned equations, tables and lists (:class:`Items`).  Math is LaTeX text
already; nothing here computes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from symbn.render.algebra import Algebra


@dataclass(frozen=True)
class Text:
    """Prose with inline math: ``("t", text) | ("m", latex) | ("c", code)`` segments."""

    parts: tuple[tuple[str, str], ...]


def text(s: str) -> Text:
    """``"the mean $\\mu$ of `x`"`` -> text, math and code segments."""
    parts = []
    for piece in re.split(r"(\$[^$]*\$|`[^`]*`)", s):
        if piece.startswith("$") and len(piece) > 1:
            parts.append(("m", piece[1:-1]))
        elif piece.startswith("`") and len(piece) > 1:
            parts.append(("c", piece[1:-1]))
        elif piece:
            parts.append(("t", piece))
    return Text(tuple(parts))


@dataclass
class Heading:
    level: int  # 1 section, 2 subsection
    text: Text


@dataclass
class Eq:
    """``lhs rel rhs[0] = rhs[1] = ...``; an Expr in rhs may be broken across lines."""

    lhs: str
    rhs: list
    rel: str = "="
    label: str = ""  # LaTeX in a column to the right of the first line, e.g. r"\text{incoming}"
    note: str = ""  # ... and of the last line, e.g. r"i \neq j" or the identity used
    vector: bool = False


@dataclass
class Equations:
    rows: list[Eq]
    algebra: Algebra | None = None  # whose symbols the values are (None: the document's)


@dataclass
class Table:
    header: list[str]
    rows: list[list[Text]]


@dataclass
class Items:
    """A list of short entries (each one paragraph), e.g. what is wrong with a claim, term by term."""

    items: list[Text]


Block = Heading | Text | Equations | Table | Items


@dataclass
class Document:
    title: str
    source: str
    blocks: list[Block] = field(default_factory=list)
    algebra: Algebra | None = None
