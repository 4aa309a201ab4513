r"""Prepare a pasted formula for the grammar by *blanking* what is not mathematics.

Text is only ever replaced by spaces, never deleted, so a column in the prepared text is
the column in what the user wrote, and every error can point there.  Blanked: a
surrounding ``$..$``, ``$$..$$``, ``\[..\]``, ``\begin{aligned}``/``\end`` ... and an empty
``\text{}``.  A non-empty ``\text{..}`` is prose, and an error.  Brackets are checked to pair
up here, where the message can name both ends.  An equation (a left-hand side
``\frac{\partial f}{\partial x_j} =``, or the steps of an aligned chain) is cut at each ``=``
outside brackets into its sides, each with the others blanked: every side is read, and every
one but the derivative it names is checked, so a wrong step cannot hide before a right one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise

from symbn.lang.expr import ExprError

MAX_NESTING = 50  # brackets

_END = r"(?![A-Za-z])"
_WRAPPERS = (("\\[", "\\]"), ("\\(", "\\)"))
_ENVIRONMENT = re.compile(r"\\(begin|end)\s*\{\s*(aligned|align\*?|equation\*?|split|gathered|gather\*?)\s*\}")
_EMPTY_TEXT = re.compile(r"\\(text|mbox)\s*\{\s*\}")
_TEXT = re.compile(r"\\(text|mbox|textrm|textit|textbf)" + _END)
_BAR = re.compile(r"\\(\||Vert" + _END + ")")
_OPENING = {"{": "}", "(": ")", "[": "]", "\\{": "\\}"}
_CLOSING = {close: open_ for open_, close in _OPENING.items()}


def prepare(tex: str) -> list[str]:
    """The sides of ``tex`` (one, or one per ``=``-separated part of an equation), each the
    whole text with wrappers, environments, empty text and the other sides blanked."""
    text = _strip_wrapper(tex)
    text = _ENVIRONMENT.sub(lambda m: " " * len(m.group()), text)
    equals = _check_brackets(text)
    text = _EMPTY_TEXT.sub(lambda m: " " * len(m.group()), text)
    prose = _TEXT.search(text)
    if prose:
        raise ExprError(f"{prose.group()}{{...}} is prose, not mathematics: remove it", prose.start() + 1)
    for bar in _BAR.finditer(text):  # \| opens or closes a norm: only \left or \right says which
        if not re.search(r"\\(left|right)\s*$", text[: bar.start()]):
            raise ExprError(rf"a norm is read as \lVert x \rVert or \left{bar.group()} x \right{bar.group()}: a bare "
                            rf"{bar.group()} does not say whether it opens or closes", bar.start() + 1)
    cuts = [-1, *equals, len(text)]
    sides = []
    for start, end in pairwise(cuts):
        side = _blank(_blank(text, end, len(text)), 0, start + 1)
        if not side.strip():
            where = "" if not equals else " after '='" if start >= 0 and end == len(text) else " before '='"
            raise ExprError("the formula is empty" + where, (end if end < len(text) else len(tex.rstrip())) + 1)
        sides.append(side)
    return sides


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _strip_wrapper(text: str) -> str:
    text = re.sub(r"(?<!\\)\$", " ", text)  # $..$ and $$..$$, also around each line of a paste
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    for open_, close in _WRAPPERS:
        if text.startswith(open_, start) and text.endswith(close, 0, end) and end - start >= len(open_) + len(close):
            return _blank(_blank(text, end - len(close), end), start, start + len(open_))
    return text


def _delimiters(text: str) -> Iterator[tuple[int, str]]:
    """Positions of brackets and '=' outside commands, in order."""
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            follow = text[i + 1 : i + 2]
            if follow in ("{", "}"):
                yield i, char + follow
            i += 2
            while follow.isascii() and follow.isalpha() and i < len(text) and text[i].isascii() and text[i].isalpha():
                i += 1
            continue
        if char in "{}()[]=":
            yield i, char
        i += 1


def _check_brackets(text: str) -> list[int]:
    """Check that brackets pair up; return the positions of the top-level '='."""
    stack: list[tuple[int, str]] = []
    equals: list[int] = []
    for pos, mark in _delimiters(text):
        if mark == "=":
            if not stack:
                equals.append(pos)
        elif mark in _OPENING:
            stack.append((pos, mark))
            if len(stack) > MAX_NESTING:
                raise ExprError(f"brackets are nested more than {MAX_NESTING} deep", pos + 1)
        elif not stack:
            raise ExprError(f"unbalanced '{mark}': it closes nothing", pos + 1)
        elif stack[-1][1] != _CLOSING[mark]:
            where, opened = stack[-1]
            raise ExprError(f"'{mark}' does not close '{opened}' at column {where + 1}", pos + 1)
        else:
            stack.pop()
    if stack:
        where, opened = stack[-1]
        raise ExprError(f"unbalanced '{opened}': it is never closed", where + 1)
    return equals
