"""The LaTeX grammar (``grammar.lark``) and the shapes of the trees it builds.

The symbol table, the index algebra and the reader all take these trees apart; the
helpers live here, below all three, so that none of them imports another's internals.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Tree

GRAMMAR = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")

Node = Tree | Token


@lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True)


def col(node: Node) -> int:
    """The 1-based column of a node in the text (0 when it has none)."""
    if isinstance(node, Token):
        return (node.start_pos or 0) + 1
    if not node.meta.empty:
        return node.meta.start_pos + 1
    first = next(node.scan_values(lambda v: isinstance(v, Token)), None)
    return col(first) if first is not None else 0


def single(node: Node) -> Node:
    """Look through braces and one-element expressions: {x_i} -> x_i, {(r)} -> (r)."""
    while isinstance(node, Tree) and (
        node.data in ("brace", "start") or (node.data in ("expr", "product", "scripted") and len(node.children) == 1)
    ):
        node = node.children[0]
    return node


def scripts(node: Tree) -> tuple[Node, Node | None, Node | None]:
    """(atom, subscript argument, superscript argument) of a scripted factor."""
    parts = {child.data: child.children[0] for child in node.children[1:]}
    return node.children[0], parts.get("sub"), parts.get("sup")


def letter(node: Node | None) -> Token | None:
    """The letter a script argument consists of, else None."""
    inner = single(node) if node is not None else None
    return inner.children[0] if isinstance(inner, Tree) and inner.data == "letter" else None


def row_index(sup: Node | None) -> Token | None:
    """The r of a row superscript ^{(r)}, else None."""
    inner = single(sup) if sup is not None else None
    return letter(inner.children[0]) if isinstance(inner, Tree) and inner.data == "paren" else None


def is_symbol(node: Node) -> bool:
    return isinstance(node, Tree) and node.data in ("letter", "command", "accent", "scripted", "norm")
