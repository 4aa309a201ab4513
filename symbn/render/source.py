r"""Formulas as their authors wrote them, in lines that fit the page.

A claim is shown as written before anything symbn made of it: its LaTeX exactly as the
source has it (:func:`source_latex`), or, without LaTeX, its formula typeset from the
parsed tree (:class:`Faithful`) — every operation where the author put it, every number
as it was spelled (``0.5`` stays 0.5), nothing cancelled or reordered.

Both come as a :class:`Breakable`: LaTeX pieces and the places where a line may break,
before a binary + or − (an operator of a sum at the top level, or inside brackets).
:meth:`Breakable.lines` packs the pieces into lines of bounded rendered width, breaking
where the brackets are shallowest.  A ``\left(`` … ``\right)`` pair split over two lines
becomes ``\biggl(`` … ``\biggr)`` (TeX cannot break inside \left…\right); nothing else
of the text changes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from symbn.lang.expr import BinOp, Call, Expr, Name, Neg, Num
from symbn.render.printer import width

TEXT, OP, OPEN, CLOSE = "text", "op", "open", "close"
ROOMY = 16.0  # brackets narrower than this are not broken inside: a slightly long line reads better
_SPLIT = {r"\left": r"\biggl", r"\right": r"\biggr"}


@dataclass(frozen=True)
class Piece:
    kind: str  # text | op (a binary + or -, a line may break before it) | open | close (a bracket)
    tex: str
    depth: int = 0  # brackets around an op


class Breakable:
    """LaTeX with its break points; ``str()`` is the text on one line."""

    def __init__(self, pieces: list[Piece]):
        self.pieces = _levelled(_merge(pieces))

    def __str__(self) -> str:
        return _join(self.pieces, split=set())

    def __repr__(self) -> str:
        return f"Breakable({str(self)!r})"

    def lines(self, budget: float) -> list[str]:
        """The text in lines of estimated width <= budget where it can be: broken before the
        binary operators of the outermost level first (a sum's terms packed into lines), and
        inside brackets only where one term is wider than a line.  Later lines start with {}."""
        pieces = self.pieces
        self._sizes = [_width(p) for p in pieces]
        starts = [0, *self._cuts(0, len(pieces), budget)]
        bounds = list(zip(starts, [*starts[1:], len(pieces)]))
        split = _split_brackets(pieces, bounds)
        out = []
        for a, b in bounds:
            line = _join(pieces[a:b], split, offset=a)
            indent = r"\quad " * min(pieces[a].depth, 2) if a else ""  # a break inside brackets is set in
            out.append((indent + "{}" + line) if a and pieces[a].kind == OP else line)
        return out

    def _cuts(self, lo: int, hi: int, budget: float, used: float = 0.0) -> list[int]:
        """Where lines start within pieces[lo:hi] (a line already holds ``used`` before lo)."""
        ops = [c for c in range(lo + 1, hi) if self.pieces[c].kind == OP and self._roomy(c)]
        if not ops or used + sum(self._sizes[lo:hi]) <= budget:
            return []
        level = min(self.pieces[c].depth for c in ops)
        bounds = [lo, *(c for c in ops if self.pieces[c].depth == level), hi]
        cuts: list[int] = []
        for a, b in itertools.pairwise(bounds):
            size = sum(self._sizes[a:b])
            if used + size > budget and used > 0 and a > lo:
                cuts.append(a)
                used = 0.0
            if used + size > budget:  # wider than a line by itself: break inside it
                inner = self._cuts(a, b, budget, used)
                cuts += inner
                used = sum(self._sizes[inner[-1] if inner else a : b]) + (0.0 if inner else used)
            else:
                used += size
        return cuts


    def _roomy(self, c: int) -> bool:
        """A break inside brackets only where they hold enough to fill a line's part (not in (v + ε))."""
        stack, match, around = [], {}, None
        for k, p in enumerate(self.pieces):
            if p.kind == OPEN:
                stack.append(k)
            elif p.kind == CLOSE and stack:
                match[stack.pop()] = k
            if k == c:
                around = stack[-1] if stack else None
        if around is None:
            return True
        return sum(self._sizes[around : match.get(around, len(self.pieces) - 1) + 1]) >= ROOMY


def _levelled(pieces: list[Piece]) -> list[Piece]:
    """Each operator with the number of brackets around it."""
    out, depth = [], 0
    for p in pieces:
        depth -= p.kind == CLOSE
        out.append(Piece(p.kind, p.tex, depth) if p.kind == OP else p)
        depth += p.kind == OPEN
    return out


def _merge(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for p in pieces:
        if p.kind == TEXT and out and out[-1].kind == TEXT:
            out[-1] = Piece(TEXT, out[-1].tex + p.tex)
        elif p.tex or p.kind != TEXT:
            out.append(p)
    return out


def _width(p: Piece) -> float:
    return 1.2 if p.kind in (OPEN, CLOSE) else width(p.tex)


def _split_brackets(pieces: list[Piece], bounds: list[tuple[int, int]]) -> set[int]:
    """Positions of the brackets whose partner is on another line."""
    line_of = {k: n for n, (a, b) in enumerate(bounds) for k in range(a, b)}
    stack, split = [], set()
    for k, p in enumerate(pieces):
        if p.kind == OPEN:
            stack.append(k)
        elif p.kind == CLOSE and stack:
            o = stack.pop()
            if line_of[o] != line_of[k]:
                split |= {o, k}
    return split


def _join(pieces: list[Piece], split: set[int], offset: int = 0) -> str:
    out = ""
    for k, p in enumerate(pieces, offset):
        tex = p.tex
        if k in split:
            for a, b in _SPLIT.items():
                if tex.startswith(a):
                    tex = b + tex[len(a) :]
        if p.kind == OP:
            tex = f" {tex} "
        out += tex
    return re.sub(r" {2,}", " ", out).strip()


# --- a claim's LaTeX, as the source wrote it ------------------------------------------------------

_TOKEN = re.compile(
    r"\\left\s*(?:\\[{}]|\\[A-Za-z]+|.)|\\right\s*(?:\\[{}]|\\[A-Za-z]+|.)|\\[A-Za-z]+|\\.|\s+|.", re.DOTALL
)
_OPERAND_END = re.compile(r"[A-Za-z0-9)\]}|!']$|\\[A-Za-z]+$")
_NOT_OPERAND = {r"\cdot", r"\times", r"\left", r"\quad", r"\qquad", r"\sum", r"\prod", r"\int", r"\pm", r"\mp"}


def source_latex(tex: str) -> tuple[str, Breakable]:
    """A claim's LaTeX as (the left side before a top-level =, or ''; the rest, breakable).
    The text is kept token for token: breaks go before the binary + and − outside braces."""
    pieces: list[Piece] = []
    braces = depth = 0
    last = ""  # the last token that was not space
    lhs = ""
    for tok in _TOKEN.findall(tex.strip()):
        if tok in "{}" and tok:
            braces += 1 if tok == "{" else -1
        if braces == 0 and tok == "=" and depth == 0 and not lhs and pieces:
            lhs, pieces, last = _join(pieces, set()), [], ""
            continue
        if braces == 0 and tok.startswith(r"\left"):
            depth += 1
            pieces.append(Piece(OPEN, tok))
        elif braces == 0 and tok.startswith(r"\right"):
            depth -= 1
            pieces.append(Piece(CLOSE, tok))
        elif braces == 0 and tok in "+-" and tok and last and _OPERAND_END.search(last) and last not in _NOT_OPERAND:
            pieces.append(Piece(OP, tok, depth))
        elif braces == 0 and tok in ("(", "["):
            depth += 1
            pieces.append(Piece(OPEN, tok))
        elif braces == 0 and tok in (")", "]"):
            depth -= 1
            pieces.append(Piece(CLOSE, tok))
        else:
            pieces.append(Piece(TEXT, tok))
        if not tok.isspace():
            last = tok
    return lhs, Breakable(pieces)


# --- a formula in symbn's syntax, typeset from its tree ---------------------------------------------

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "**": 4}
ATOM = 9
WIDE_NUMERATOR = 28.0  # a numerator wider than this is written (…)/d, which can break, not \frac


class Faithful:
    """A formula of a derivation file as LaTeX, operation for operation.

    ``name(id, index)``: the LaTeX of a name at index "i" (inside mean/sum) or "j";
    ``literal(num)``: a number as it was spelled.
    """

    def __init__(self, name: Callable[[str, str], str], literal: Callable[[Num], str]):
        self.name, self.literal = name, literal

    def _prec(self, e: Expr, index: str) -> int:
        """How tightly the operand's text binds: a name that is a formula (x − μ) binds as a sum."""
        if isinstance(e, Name):
            return _PREC["+"] if re.search(r"[-+]", re.sub(r"\{[^{}]*\}", "", self.name(e.id, index))) else ATOM
        return _prec(e)

    def breakable(self, e: Expr) -> Breakable:
        return Breakable(self._p(e, "j", 0))

    def _p(self, e: Expr, index: str, depth: int) -> list[Piece]:
        if isinstance(e, Num):
            return [Piece(TEXT, self.literal(e))]
        if isinstance(e, Name):
            return [Piece(TEXT, self.name(e.id, index))]
        if isinstance(e, Neg):
            return [Piece(TEXT, "-"), *self._operand(e.arg, index, depth, _PREC["neg"], leading=False)]
        if isinstance(e, Call):
            return self._call(e, index, depth)
        return self._binop(e, index, depth)

    def _binop(self, e: BinOp, index: str, depth: int) -> list[Piece]:
        p = _PREC[e.op]
        if e.op in "+-":
            right = self._operand(e.right, index, depth, p + (e.op == "-"), leading=False)
            return [*self._operand(e.left, index, depth, p), Piece(OP, e.op, depth), *right]
        if e.op == "**":
            base = self._operand(e.left, index, depth, p + 1, power_base=True)
            return [*base, Piece(TEXT, "^{" + _one_line(self._p(e.right, index, depth)) + "}")]
        if e.op == "/":
            return self._divide(e, index, depth)
        left = self._operand(e.left, index, depth, p)
        right = self._operand(e.right, index, depth, p + 1, leading=False)
        joint = r" \cdot " if _one_line(right)[:1].isdigit() or _one_line(right).startswith(("-", ".")) else " "
        return [*left, Piece(TEXT, joint), *right]

    def _divide(self, e: BinOp, index: str, depth: int) -> list[Piece]:
        sign, top = ([Piece(TEXT, "-")], e.left.arg) if isinstance(e.left, Neg) else ([], e.left)
        numerator = self._p(top, index, depth + 1)
        if width(_one_line(numerator)) <= WIDE_NUMERATOR:
            bottom = _one_line(self._p(e.right, index, depth))
            return [*sign, Piece(TEXT, rf"\frac{{{_one_line(numerator)}}}{{{bottom}}}")]
        bottom = self._operand(e.right, index, depth, _PREC["/"] + 1, leading=False)
        return [*sign, *_bracket(numerator), Piece(TEXT, r" \big/ "), *bottom]

    def _operand(self, e: Expr, index: str, depth: int, outer: int, power_base: bool = False,
                 leading: bool = True) -> list[Piece]:
        """An operand, in brackets when its own operator binds less tightly than ``outer``, or when
        it starts with a minus and is not the first thing written (a·(−b), not a −b)."""
        inner = self._p(e, index, depth + 1)
        if (
            self._prec(e, index) < outer
            or (power_base and _needs_base_brackets(e, _one_line(inner)))
            or (not leading and _one_line(inner).startswith("-"))
        ):
            return _bracket(inner)
        return self._p(e, index, depth)

    def _call(self, e: Call, index: str, depth: int) -> list[Piece]:
        if e.fn == "sqrt":
            return [Piece(TEXT, rf"\sqrt{{{_one_line(self._p(e.arg, index, depth))}}}")]
        if e.fn in ("exp", "log"):
            return [Piece(TEXT, rf"\{e.fn}"), *_bracket(self._p(e.arg, index, depth + 1))]
        body = self._operand(e.arg, "i", depth, _PREC["*"])
        head = r"\frac{1}{N} \sum_{i=1}^{N} " if e.fn == "mean" else r"\sum_{i=1}^{N} "
        return [Piece(TEXT, head), *body]


def _prec(e: Expr) -> int:
    if isinstance(e, BinOp) and e.op == "/":  # a fraction is set apart by its bar, but not its sign
        return _PREC["neg"] if isinstance(e.left, Neg) else ATOM
    if isinstance(e, BinOp):
        return _PREC[e.op]
    if isinstance(e, Neg):
        return _PREC["neg"]
    if isinstance(e, Num) and e.value < 0:
        return _PREC["neg"]
    return ATOM


def _needs_base_brackets(e: Expr, tex: str) -> bool:
    """A power's base in brackets: anything but one symbol without a superscript of its own."""
    if isinstance(e, Name):
        return "^" in tex or any(c in tex for c in " +-")
    return not (isinstance(e, Num) and e.value >= 0 and e.value.denominator == 1)


def _bracket(pieces: list[Piece]) -> list[Piece]:
    return [Piece(OPEN, r"\left("), *pieces, Piece(CLOSE, r"\right)")]


def _one_line(pieces: list[Piece]) -> str:
    return _join(_merge(pieces), set())


__all__ = ["Breakable", "Faithful", "Piece", "source_latex"]
