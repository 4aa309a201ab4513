r"""Read a gradient formula written in LaTeX, as in papers and blogs, into symbn's AST.

``read_latex(tex, symbols)`` parses with a lark LALR grammar of its own
(``grammar.lark``; never SymPy's ``parse_latex``, ``eval`` or ``sympify``) and returns an
:mod:`symbn.lang.expr` tree.  Every failure is an :class:`~symbn.lang.expr.ExprError`
whose ``col`` is the 1-based position in the original ``tex``: :mod:`.prepare` only ever
blanks text, so positions never move.  This module turns lark's errors into messages and
walks the tree; names come from :mod:`.symbols`, indices and sums from :mod:`.indices`.

``\frac{\partial f}{\partial y_i}`` (also ``\partial f / \partial y_i``, or without the
second ``\partial``) is the adjoint ``Name("dy")`` when ``f`` maps to the loss name
``"f"``.  ``e^{..}`` is ``exp`` when ``e`` is not a symbol.  ``\sum`` needs an index:
``\sum_i``, ``\sum_{i=1}^{N}`` or ``\sum_{i=0}^{N-1}``, where the bound must read as the
slice size ``N``.  A symbol in ``slices`` stands for a row at every position of the slice
(seed 000's ``X`` for x, ``\frac{\partial f}{\partial Y}`` for dy): it is that row at the
free index, takes no index, and is refused inside a sum, where it could mean either index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fractions import Fraction

from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from symbn.lang.expr import (
    MAX_DECIMAL_EXPONENT,
    MAX_EXPONENT,
    MAX_LITERAL_DIGITS,
    BinOp,
    Call,
    Expr,
    ExprError,
    Neg,
    Num,
)
from symbn.lang.latex.grammar import Node, col, is_symbol, parser, scripts, single
from symbn.lang.latex.indices import Indices, covers_the_slice, row_style
from symbn.lang.latex.prepare import MAX_NESTING, prepare
from symbn.lang.latex.symbols import LOSS, canon, hoist, key, normalise, resolve, symbol_table

MAX_LENGTH = 20_000

_TERMINAL_WORDS = {
    "SIGN": "+ or -", "MULOP": r"\cdot", "POINT": "a decimal point", "DIGIT": "a digit",
    "LETTER": "a letter", "COMMAND": r"a symbol like \mu", "SUM": r"\sum", "FRAC": r"\frac",
    "SQRT": r"\sqrt", "FUNC": r"\exp or \log", "PARTIAL": r"\partial",
    "ACCENT": r"an accent like \hat", "LVERT": r"\lVert", "RVERT": r"\rVert", "$END": "the end of the formula",
}
_LONE_PARTIAL = r"\partial must be part of a derivative \frac{\partial f}{\partial x}"


def read_latex(tex: str, symbols: Mapping[str, str], rows: Iterable[str] = (), slices: Iterable[str] = ()) -> Expr:
    """The last side of :func:`read_sides`: one formula, or what an equation ends with."""
    last = read_sides(tex, symbols, rows, slices)[-1]
    assert isinstance(last, Expr)  # read_sides raises the last side's error
    return last


def read_sides(tex: str, symbols: Mapping[str, str], rows: Iterable[str] = (), slices: Iterable[str] = ()) -> list[Expr | ExprError]:
    """Read one LaTeX formula, or each side of an equation, into symbn's AST; ``symbols`` maps LaTeX symbols to names.
    The last side must read; an earlier one that does not is its error (the caller says it was not checked).
    ``rows``: the names that vary along the slice; inside a sum one of them must carry an
    index (an unindexed x there is neither clearly x_i nor clearly x_j).  ``slices``: keys
    of ``symbols`` that stand for a row at every position of the slice, like X for x."""
    if not isinstance(tex, str):
        raise ExprError(f"expected LaTeX as a string, got {type(tex).__name__}")
    if len(tex) > MAX_LENGTH:
        raise ExprError(f"the formula is longer than {MAX_LENGTH} characters")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in dict(symbols).items()):
        raise ExprError("the symbol table must map LaTeX strings to symbn names")
    table = symbol_table(tuple(sorted(dict(symbols).items())))
    whole = frozenset(normalise(s) if isinstance(s, str) else "" for s in slices)
    if not whole <= table.keys():
        raise ExprError(f"a symbol for a whole slice must be a key of the symbol table: {list(slices)!r}")
    texts = prepare(tex)
    sides: list[Expr | ExprError] = []
    free = None  # (side, free index) of the first side read that has one
    for k, text in enumerate(texts, 1):
        try:
            tree = _parse(text)
            reader = _Reader(table, row_style(tree, table), text, frozenset(rows), whole)
            sides.append(reader.read(tree))
        except RecursionError:
            raise ExprError("the formula is nested too deeply or is too long") from None
        except ExprError as err:  # an earlier step in notation symbn does not read (the chain rule's dy/dx): said so
            if k == len(texts):
                raise
            sides.append(err)
            continue
        free = _one_free_index(free, k, reader.indices.free)
    return sides


def _one_free_index(first: tuple | None, k: int, free: tuple | None) -> tuple | None:
    """An equation's sides are at one index: ∂f/∂x_i = ... y_j ... relates two elements, not one.  ``first``:
    (side, free index) of the first side that has one; ``free``: side k's (Indices.free).  Returns the new first,
    or raises naming both."""
    if free is None:
        return first
    if first is None:
        return k, free
    if first[1][0] != free[0]:
        (side, (letter, at, shown, _)), (_, _, here, _) = first, free
        raise ExprError(f"side {side}'s {shown} (column {at}) is at {letter} and side {k}'s {here} at {free[0]}, but "
                        "an equation's sides speak of one element: write the same free index on every side", free[1])
    return first


def _parse(text: str) -> Tree:
    try:
        return parser().parse(text)
    except UnexpectedToken as err:
        expected = _describe(err.expected)
        if err.token.type == "DIGIT" and "DIGIT" not in err.expected:
            raise ExprError(
                r"a number after a factor: write it first (2x), use \cdot, or brace exponents (x^{10})",
                err.token.start_pos + 1,
            ) from None
        if err.token.type == "$END":
            raise ExprError(f"the formula ends too early: expected {expected}", len(text.rstrip()) + 1) from None
        raise ExprError(f"unexpected '{err.token.value}': expected {expected}", err.token.start_pos + 1) from None
    except UnexpectedCharacters as err:
        word = re.match(r"\\[A-Za-z]+|.", text[err.pos_in_stream :], re.DOTALL)
        seen = word.group() if word else text[err.pos_in_stream :][:1]
        message = f"cannot read '{seen}' here: expected {_describe(err.allowed)}"
        raise ExprError(message, err.pos_in_stream + 1) from None
    except UnexpectedInput as err:
        raise ExprError(f"cannot read the formula: {err}", getattr(err, "pos_in_stream", -1) + 1) from None
    except (LarkError, RecursionError) as err:
        raise ExprError(f"cannot read the formula: {type(err).__name__}") from None


def _describe(names: set[str]) -> str:
    words = set()
    for name in names:
        try:
            pattern = parser().get_terminal(name).pattern
            words.add(_TERMINAL_WORDS.get(name, pattern.value if pattern.type == "str" else name))
        except KeyError:
            words.add(_TERMINAL_WORDS.get(name, name))
    shown = sorted(words)
    return ", ".join(shown[:8]) + (", ..." if len(shown) > 8 else "") if shown else "something else"


def _parenthesised(node: Node) -> bool:
    """A function's argument in parentheses (or braces), perhaps raised to a power."""
    if isinstance(node, Tree) and node.data == "scripted":
        node = node.children[0]
    return isinstance(node, Tree) and node.data in ("paren", "brace")


class _Reader:
    """Walks the parse tree; ``indices`` keeps the bound indices and the free one."""

    def __init__(self, table: dict[str, str], row_style: bool, text: str, rows: frozenset[str] = frozenset(),
                 whole: frozenset[str] = frozenset()):
        self.table = table
        self.whole = whole  # symbols for a row at every position of the slice
        self.row_style = row_style
        self.text = text
        self.indices = Indices(rows, table, row_style)
        self.depth = 0
        # bases the table also maps with a power (\sigma and \sigma^2): the forms a formula reads
        self.powered = {re.split(r"[_^]", k)[0] for k in table if "^" in k}
        self.forms: dict[str, dict[str, int]] = {}

    def read(self, node: Tree) -> Expr:
        self.depth += 1
        if self.depth > 6 * MAX_NESTING:  # a bracket is up to 6 tree levels
            raise ExprError("the formula is nested too deeply", col(node))
        try:
            return getattr(self, "_" + node.data)(node)
        finally:
            self.depth -= 1

    def _start(self, node: Tree) -> Expr:
        value = self.read(node.children[0])
        for base, forms in self.forms.items():
            if len(forms) > 1:
                (a, _), (b, column) = list(forms.items())[:2]
                raise ExprError(
                    f"{base} is read both as {a} and as {b}: the symbol table maps {base} and a power of it to "
                    "different stages, so one formula cannot use both; write the stages' own symbols", column)
        return value

    _brace = _paren = _start

    def _expr(self, node: Tree) -> Expr:
        result: Expr | None = None
        sign: Token | None = None
        for child in node.children:
            if isinstance(child, Token):
                sign = child
                continue
            value = self.read(child)
            if result is None:
                result = Neg(value, col(sign)) if sign == "-" else value
            else:
                result = BinOp(str(sign), result, value, col(sign))
            sign = None
        assert result is not None
        return result

    def _product(self, node: Tree) -> Expr:
        items: list[tuple[str, Tree]] = []  # (operator before it, factor)
        op, explicit, implicit = "*", False, []  # implicit[k]: items[k] follows items[k-1] with no operator
        for child in node.children:
            if isinstance(child, Token):
                op, explicit = ("/" if child == "/" else "*"), True
            else:
                implicit.append(bool(items) and not explicit)
                items.append((op, child))
                op, explicit = "*", False
        for k in range(1, len(items)):
            if not implicit[k]:
                continue
            before = items[k - 1][1]
            if items[k - 1][0] == "/" and before.data != "partial":
                raise ExprError("a/bc is ambiguous: write \\frac{a}{bc}, or (a/b)c as \\frac{a}{b}c", col(items[k][1]))
            if before.data == "func" and not _parenthesised(before.children[1]):
                raise ExprError("\\log 2x is ambiguous: write \\log(2x), or \\log(2)\\cdot x", col(items[k][1]))
        result: Expr | None = None
        i = 0
        while i < len(items):
            op, factor = items[i]
            if factor.data == "partial":  # \partial f / \partial y
                if i + 1 < len(items) and items[i + 1][0] == "/" and items[i + 1][1].data == "partial":
                    value = self.adjoint(factor.children[1], items[i + 1][1])
                    i += 1
                else:
                    raise ExprError(_LONE_PARTIAL, col(factor))
            else:
                value = self.read(factor)
            result = value if result is None else BinOp(op, result, value, col(factor))
            i += 1
        assert result is not None
        return result

    def _number(self, node: Tree) -> Expr:
        digits = "".join(node.children)  # TeX reads "1 2" as 12, like "12"
        if len(digits) > MAX_LITERAL_DIGITS:
            raise ExprError(f"the number {digits[:20]}... has more than {MAX_LITERAL_DIGITS} characters", col(node))
        return Num(Fraction(digits), col(node))

    def _letter(self, node: Tree) -> Expr:
        return self.symbol(node, None, None)

    _command = _accent = _norm = _letter

    def _scripted(self, node: Tree) -> Expr:
        atom, sub, sup = scripts(node)
        inner = single(atom) if isinstance(atom, Tree) and atom.data == "brace" else None
        if inner is not None and is_symbol(inner):  # {\sigma}^2 and {\sigma_B}^2 print as \sigma^2 and \sigma_B^2
            if inner.data != "scripted":
                atom = inner
            elif sub is None and scripts(inner)[2] is None:
                atom, sub = scripts(inner)[:2]
        if is_symbol(atom):
            return self.symbol(atom, sub, sup)
        if sub is not None:
            raise ExprError("a subscript needs a symbol in front of it", col(sub))
        value = self.read(atom)
        return self.power(value, sup) if sup is not None else value

    def _func(self, node: Tree) -> Expr:
        name = "log" if node.children[0] in (r"\log", r"\ln") else "exp"
        factor = node.children[1]
        if factor.data == "scripted" and factor.children[0].data == "paren":
            atom, sub, sup = scripts(factor)  # \exp(x)^2 is (exp x)^2
            if sub is None and sup is not None:
                return self.power(Call(name, self.read(atom), col(node)), sup)
        return Call(name, self.read(factor), col(node))

    def _partial(self, node: Tree) -> Expr:
        raise ExprError(_LONE_PARTIAL, col(node))

    def _frac(self, node: Tree) -> Expr:
        _, numerator, denominator = node.children
        top = single(numerator)
        if isinstance(top, Tree) and top.data == "partial":
            return self.adjoint(top.children[1], denominator)
        return BinOp("/", self.read(numerator), self.read(denominator), col(node))

    def _sqrt(self, node: Tree) -> Expr:
        return Call("sqrt", self.read(node.children[1]), col(node))

    def _root(self, node: Tree) -> Expr:
        column = self.text.index("[", node.children[0].end_pos) + 1
        raise ExprError(r"only square roots can be read: \sqrt[n]{..} is not supported", column)

    def _bigsum(self, node: Tree) -> Expr:
        sum_token, limits = node.children[0], node.children[1]
        sign = node.children[2] if isinstance(node.children[2], Token) else None
        index = self.limits(sum_token, limits)
        with self.indices.summing(index):
            body = self.read(node.children[-1])
        body = Neg(body, col(sign)) if sign == "-" else body
        return self.indices.sum_of(body, col(sum_token))

    def limits(self, sum_token: Token, limits: Tree) -> str:
        """The index letter of a \\sum; its range must be the whole slice."""
        ranges = [c for c in limits.children if c.data in ("index_only", "index_range")]
        uppers = [c for c in limits.children if c.data not in ("index_only", "index_range")]
        if not ranges:
            raise ExprError(r"a \sum needs its index: write \sum_{i=1}^{N}", col(sum_token))
        index = self.indices.new(ranges[0].children[0])
        lower = self.read(ranges[0].children[1]) if len(ranges[0].children) > 1 else None
        upper = self.read(uppers[0]) if uppers else None
        if not covers_the_slice(lower, upper):
            raise ExprError(
                r"a \sum must run over the whole slice: \sum_{i=1}^{N} (or 0..N-1, with N in the symbol table)",
                col(sum_token),
            )
        return index

    def lookup(self, atom: Tree, sub: Node | None, sup: Node | None) -> tuple[str, Token | None, Node | None]:
        return resolve(self.table, self.row_style, atom, sub, sup)

    def symbol(self, atom: Tree, sub: Node | None, sup: Node | None) -> Expr:
        if atom.data == "norm":
            return self.norm(atom, sub, sup)
        if canon(atom) == "e" and "e" not in self.table and sub is None and sup is not None:
            return Call("exp", self.read(sup), col(atom))
        name, index, power = self.lookup(atom, sub, sup)
        base = canon(hoist(atom, sub, sup)[0])
        if base in self.powered:
            form = name if power is None else f"{name}**{canon(power)}"
            self.forms.setdefault(base, {}).setdefault(form, col(atom))
        if name == LOSS:
            raise ExprError(f"{canon(atom)} is the loss: it only appears as " + r"\frac{\partial f}{\partial x}", col(atom))
        value = self.at(base, name, index, col(atom))
        return self.power(value, power) if power is not None else value

    def norm(self, atom: Tree, sub: Node | None, sup: Node | None) -> Expr:
        r"""\lVert x \rVert as the file names it: the norm itself, or its square (l2norm's ss), whose
        square root it is; another power p of the norm is that square to the power p/2."""
        if sub is not None and canon(sub) != "2":
            raise ExprError(r"only the 2-norm is read: \lVert x \rVert or \lVert x \rVert_2", col(sub))
        base, column = canon(atom), col(atom)
        if base in self.table:
            value = self.at(base, self.table[base], None, column)
            return self.power(value, sup) if sup is not None else value
        squared = key(base, None, "2")
        if squared not in self.table:
            raise ExprError(f"{base} is not in the symbol table: write it as \\sqrt{{\\sum_i ...}}, or give the stage "
                            f"it stands for that LaTeX ([latex] or [notation] in the file)", column)
        value = self.at(squared, self.table[squared], None, column)
        if sup is None:
            return Call("sqrt", value, column)
        exponent = self.power(value, sup).right
        if isinstance(exponent, Num) and exponent.value == 2:
            return value
        return BinOp("**", value, BinOp("/", exponent, Num(Fraction(2)), col(sup)), col(sup))

    def at(self, symbol: str, name: str, index: Token | None, column: int, adjoint: bool = False) -> Expr:
        """The name (or its adjoint) at the index the symbol carries."""
        full = "d" + name if adjoint else name
        if symbol not in self.whole:
            return self.indices.at(full, index, column, symbol)
        others = [k for k, v in self.table.items() if v == name and k not in self.whole and not set("_^") & set(k)]
        element = min(others, key=len) if others else name
        if index is not None:
            one = f"{element}^{{({index})}}" if self.row_style else f"{element}_{index}"
            raise ExprError(f"{symbol} is all of {element}, one value per position of the slice, so it takes no "
                            f"index: write {one} for one element", col(index))
        return self.indices.everywhere(full, symbol, element, column)

    def power(self, value: Expr, sup: Node) -> Expr:
        exponent = self.read(sup)
        literal = exponent.arg if isinstance(exponent, Neg) else exponent
        limit = MAX_DECIMAL_EXPONENT if isinstance(value, Num) else MAX_EXPONENT  # 10^{-300} is one exact number
        if isinstance(literal, Num) and abs(literal.value) > limit:
            raise ExprError(f"the exponent {literal.value} is larger than {limit} in size", col(sup))
        return BinOp("**", value, exponent, col(sup))

    def adjoint(self, numerator: Node, denominator: Node) -> Expr:
        r"""\frac{\partial f}{\partial y_i} -> Name("dy") at index i."""
        top = single(numerator)
        if not is_symbol(top) or self.lookup(*self.parts(top))[0] != LOSS or self.parts(top)[1:] != (None, None):
            raise ExprError(
                f"only derivatives of the loss can be read: the numerator is {canon(top)}, not the loss",
                col(top),
            )
        bottom = single(denominator)
        if isinstance(bottom, Tree) and bottom.data == "partial":
            bottom = single(bottom.children[1])
        if not is_symbol(bottom):
            raise ExprError("the derivative must be taken with respect to one symbol", col(bottom))
        name, index, power = self.lookup(*self.parts(bottom))
        if name == LOSS or power is not None:
            raise ExprError(f"cannot read the derivative with respect to {canon(bottom)}", col(bottom))
        return self.at(canon(hoist(*self.parts(bottom))[0]), name, index, col(bottom), adjoint=True)

    @staticmethod
    def parts(node: Tree) -> tuple[Tree, Node | None, Node | None]:
        return scripts(node) if node.data == "scripted" else (node, None, None)
