r"""The symbol table: which symbn name a LaTeX symbol stands for.

Keys are normalised like the formula's text, so ``\hat x`` = ``\hat{x}``, ``x_{i}`` =
``x_i`` and ``\varepsilon`` = ``\epsilon``.  For ``B_S^P`` the lookup tries, in order: the
key ``B_S^P``; ``B_S`` (the superscript is then a power); then ``S`` must be one letter,
an *index*, and it tries ``B^P`` (so ``\sigma_i^2`` is the variance when ``\sigma^2`` is a
key) and ``B`` with ``P`` a power (``\sigma_i^3`` is sigma cubed).  In the
row-superscript style (``x^{(r)}``) the index is ``r`` and a subscript is a unit index.
What an index means is :mod:`.indices`' business.
"""

from __future__ import annotations

from functools import lru_cache

from lark import Token, Tree
from lark.exceptions import LarkError

from symbn.lang.expr import ExprError
from symbn.lang.latex.grammar import Node, col, letter, parser, row_index, scripts, single

LOSS = "f"  # the symbn name of the loss symbol: it appears only as the numerator of ∂f/∂…

_ALIASES = {r"\varepsilon": r"\epsilon", r"\vartheta": r"\theta", r"\varphi": r"\phi",
            r"\widehat": r"\hat", r"\widetilde": r"\tilde", r"\ln": r"\log"}


def key(base: str, sub: str | None, sup: str | None) -> str:
    return base + (f"_{{{sub}}}" if sub is not None else "") + (f"^{{{sup}}}" if sup is not None else "")


def canon(node: Node | None) -> str:
    """The normal form of a piece of LaTeX: spacing and one-token braces do not matter."""
    if isinstance(node, Token):
        return _ALIASES.get(node.value, node.value)
    if node is None:
        return ""
    if node.data == "scripted":
        base, sub, sup = scripts(node)
        return key(canon(base), None if sub is None else canon(sub), None if sup is None else canon(sup))
    if node.data == "accent":
        return f"{canon(node.children[0])}{{{canon(node.children[1])}}}"
    if node.data == "paren":
        return f"({canon(node.children[0])})"
    if node.data == "norm":
        return rf"\lVert {canon(node.children[1])} \rVert"
    return " ".join(canon(child) for child in node.children)


def normalise(tex: str) -> str:
    """The normal form of one symbol written in LaTeX; anything else is an error."""
    try:
        symbol = single(parser().parse(tex))
    except (LarkError, RecursionError):
        symbol = None
    if not isinstance(symbol, Tree) or symbol.data not in ("scripted", "letter", "command", "accent", "norm"):
        raise ExprError(f"the symbol table key {tex!r} is not one LaTeX symbol")
    return canon(symbol)


@lru_cache(maxsize=64)
def symbol_table(items: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The table with normalised keys; a key that is not one symbol is an error."""
    table: dict[str, str] = {}
    for tex, name in items:
        canonical = normalise(tex)
        if table.get(canonical, name) != name:
            raise ExprError(f"the symbol table gives {tex!r} two names: {table[canonical]!r} and {name!r}")
        table[canonical] = name
    return table


def hoist(atom: Tree, sub: Node | None, sup: Node | None) -> tuple[Tree, Node | None, Node | None]:
    r"""\hat{x_i} reads as \hat{x}_i."""
    if atom.data != "accent":
        return atom, sub, sup
    inner = single(atom.children[1])
    if not (isinstance(inner, Tree) and inner.data == "scripted"):
        return atom, sub, sup
    accented, inner_sub, inner_sup = scripts(inner)
    if (inner_sub is not None and sub is not None) or (inner_sup is not None and sup is not None):
        raise ExprError("two subscripts or two superscripts on one symbol", col(atom))
    bare = Tree("accent", [atom.children[0], accented], atom.meta)
    return bare, sub if sub is not None else inner_sub, sup if sup is not None else inner_sup


def resolve(
    table: dict[str, str], row_style: bool, atom: Tree, sub: Node | None, sup: Node | None
) -> tuple[str, Token | None, Node | None]:
    """(symbn name, index token or None, superscript left as a power or None)."""
    atom, sub, sup = hoist(atom, sub, sup)
    base = canon(atom)
    row = row_index(sup)
    if row is not None:
        sup = None
    s = canon(sub) if sub is not None else None
    p = canon(sup) if sup is not None else None
    if s is not None and p is not None and key(base, s, p) in table:
        return table[key(base, s, p)], row, None
    if s is not None and key(base, s, None) in table:
        return table[key(base, s, None)], row, sup
    index = row
    if sub is not None:
        subscript = letter(sub)
        if subscript is None:
            raise ExprError(
                f"unknown symbol {key(base, s, None)}: its subscript is neither in the symbol table "
                "nor a one-letter index",
                col(sub),
            )
        index = index if row_style else subscript
    if p is not None and key(base, None, p) in table:
        return table[key(base, None, p)], index, None
    if base in table:
        return table[base], index, sup
    known = ", ".join(sorted(table)) or "nothing"
    raise ExprError(f"unknown symbol {base}: the symbol table has {known}", col(atom))
