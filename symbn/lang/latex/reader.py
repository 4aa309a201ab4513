r"""Read a gradient formula written in LaTeX, as in papers and blogs, into symbn's AST.

``read_latex(tex, symbols)`` parses with a lark LALR grammar of its own (never SymPy's
``parse_latex``, ``eval`` or ``sympify``) and returns an :mod:`symbn.expr` tree.  Every
failure is an :class:`~symbn.expr.ExprError` whose ``col`` is the 1-based position in the
original ``tex``: the reader only ever *blanks* text (replaces it by spaces), so positions
never move.

Before parsing: a surrounding ``$..$``, ``$$..$$``, ``\[..\]``, ``\begin{aligned}``/``\end``
are blanked, and so is everything up to the last ``=`` outside brackets (a left-hand side
``\frac{\partial f}{\partial x_j} =``, or the earlier steps of an aligned chain).  Spacing
(``\, \; \! \quad \ ~ & \\``), sizing (``\left \right \big \Bigl`` ...), ``\limits``,
``\displaystyle`` and an empty ``\text{}`` are ignored; a non-empty ``\text{..}`` is an error.

Grammar (lowest to highest precedence; ``[x]`` is optional)::

    expr    := [+-] product  ([+-] product)*
    product := factor (mulop factor | tail)* ([mulop] bigsum)  |  bigsum
    bigsum  := \sum limits [+-] product           -- the operand: the rest of the product
    factor  := tail | number [^ arg]              -- tail: a factor not opening with a digit
    tail    := atom [_ arg] [^ arg]  |  \exp factor  |  \log factor  |  \partial factor
    atom    := letter | \command | \hat arg | \frac arg arg | \sqrt arg
             | ( expr ) | [ expr ] | \{ expr \} | { expr }
    arg     := { expr } | digit | letter | \command | \hat arg   -- TeX's one-token arguments
    mulop   := \cdot | \times | /                 -- or nothing: juxtaposition multiplies

So ``\sum_i a_i b_i + c`` is ``sum(a*b) + c``: a sum's operand runs to the next ``+``/``-``
at its own bracket level.  ``\sum`` needs an index: ``\sum_i``, ``\sum_{i=1}^{N}`` or
``\sum_{i=0}^{N-1}``, where the bound must read as the slice size ``N``.  ``\frac{\partial
f}{\partial y_i}`` (also ``\partial f / \partial y_i``, or without the second ``\partial``)
is the adjoint ``Name("dy")`` when ``f`` maps to the loss name ``"f"``.  ``e^{..}`` is
``exp`` when ``e`` is not a symbol.  A number only opens a product: ``2x``, while ``x 2``
and ``x^23`` are errors (write ``x^{23}``); ``\hat``, ``\bar``, ``\mathcal`` ... are part of
a symbol's name.

Symbols and indices.  ``symbols`` maps LaTeX symbols to symbn names; keys are normalised
like the text (``\hat x`` = ``\hat{x}``, ``x_{i}`` = ``x_i``, ``\varepsilon`` =
``\epsilon``).  For ``B_S^P`` the reader tries, in order: the key ``B_S^P``; ``B_S`` (the
superscript is then a power); then ``S`` must be one letter, an *index*, and it tries
``B^P`` (so ``\sigma_i^2`` is the variance when ``\sigma^2`` is a key) and ``B`` with ``P``
a power (``\sigma_i^3`` is sigma cubed).  An index bound by the innermost enclosing
``\sum`` is dropped (the name is read inside ``sum``); any other index is *the* free index
j, one letter per formula.  If a superscript ``^{(r)}`` occurs anywhere, the formula uses
the row-superscript style: ``(r)`` is the index, and subscripts are unit indices, dropped.
A free index inside a sum is pulled out by linearity, ``\sum_i a_j b_i = a_j sum(b)``; a
factor that mixes both indices non-linearly is an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from functools import lru_cache

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from symbn.lang.expr import MAX_EXPONENT, MAX_LITERAL_DIGITS, BinOp, Call, Expr, ExprError, Name, Neg, Num

LOSS = "f"  # the symbn name of the loss symbol: it appears only as the numerator of ∂f/∂…
MAX_LENGTH = 20_000
MAX_NESTING = 50  # brackets; the reader allows 6 tree levels per bracket
MAX_TERMS = 64  # terms a sum may be split into when a free index is pulled out

_RESERVED = ["frac", "dfrac", "tfrac", "sqrt", "sum", "exp", "log", "ln", "partial", "cdot", "times", "left", "right", "middle", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "Biggl", "Biggr", "bigm", "Bigm", "limits", "nolimits", "displaystyle", "textstyle", "quad", "qquad", "hat", "widehat", "bar", "overline", "tilde", "widetilde", "vec", "dot", "mathbf", "mathrm", "mathit", "mathcal", "boldsymbol", "bm"]
_ACCENTS = "hat widehat bar overline tilde widetilde vec dot mathbf mathrm mathit mathcal boldsymbol bm"
_END = r"(?![A-Za-z])"

GRAMMAR = rf"""
start: expr
expr: SIGN? product (SIGN product)*
product: factor (MULOP factor | tail)* (MULOP? bigsum)?
       | bigsum
bigsum: SUM limits SIGN? product
limits: ("_" sum_index)? ("^" arg)?
      | "^" arg "_" sum_index
sum_index: LETTER                     -> index_only
         | "{{" LETTER "}}"           -> index_only
         | "{{" LETTER "=" expr "}}"  -> index_range
?factor: tail
       | number sup?                  -> scripted
?tail: atom sub? sup?                 -> scripted
     | atom sup sub                   -> scripted
     | FUNC factor                    -> func
     | PARTIAL factor                 -> partial
number: DIGIT+ (POINT DIGIT*)?
      | POINT DIGIT+
sub: "_" arg
sup: "^" arg
atom: LETTER                          -> letter
    | COMMAND                         -> command
    | ACCENT arg                      -> accent
    | FRAC arg arg                    -> frac
    | SQRT arg                        -> sqrt
    | SQRT "[" expr "]" arg           -> root
    | "(" expr ")"                    -> paren
    | "[" expr "]"                    -> paren
    | "\\{{" expr "\\}}"              -> paren
    | "{{" expr "}}"                  -> brace
arg: "{{" expr "}}"                   -> brace
   | DIGIT                            -> number
   | LETTER                           -> letter
   | COMMAND                          -> command
   | ACCENT arg                       -> accent

SIGN: "+" | "-"
MULOP: /\\(cdot|times){_END}|\//
POINT: "."
DIGIT: /[0-9]/
LETTER: /[A-Za-z]/
SUM: /\\sum{_END}/
FRAC: /\\[dt]?frac{_END}/
SQRT: /\\sqrt{_END}/
FUNC: /\\(exp|log|ln){_END}/
PARTIAL: /\\partial{_END}/
ACCENT: /\\({_ACCENTS.replace(" ", "|")}){_END}/
COMMAND: /\\(?!({"|".join(_RESERVED)}){_END})[A-Za-z]+/
SPACING: /\\[,;:! ]|\\q?quad{_END}|&|~|\\\\/
SIZING: /\\(left|right|middle|[Bb]igg?[lrm]?){_END}(\s*\.)?/
STYLE: /\\(limits|nolimits|displaystyle|textstyle){_END}/
%import common.WS
%ignore WS
%ignore SPACING
%ignore SIZING
%ignore STYLE
"""

_TERMINAL_WORDS = {
    "SIGN": "+ or -", "MULOP": r"\cdot", "POINT": "a decimal point", "DIGIT": "a digit",
    "LETTER": "a letter", "COMMAND": r"a symbol like \mu", "SUM": r"\sum", "FRAC": r"\frac",
    "SQRT": r"\sqrt", "FUNC": r"\exp or \log", "PARTIAL": r"\partial",
    "ACCENT": r"an accent like \hat", "$END": "the end of the formula",
}
_ALIASES = {r"\varepsilon": r"\epsilon", r"\vartheta": r"\theta", r"\varphi": r"\phi",
            r"\widehat": r"\hat", r"\widetilde": r"\tilde", r"\ln": r"\log"}
_WRAPPERS = (("\\[", "\\]"), ("\\(", "\\)"))
_ENVIRONMENT = re.compile(r"\\(begin|end)\s*\{\s*(aligned|align\*?|equation\*?|split|gathered|gather\*?)\s*\}")
_EMPTY_TEXT = re.compile(r"\\(text|mbox)\s*\{\s*\}")
_TEXT = re.compile(r"\\(text|mbox|textrm|textit|textbf)" + _END)
_OPENING = {"{": "}", "(": ")", "[": "]", "\\{": "\\}"}
_CLOSING = {close: open_ for open_, close in _OPENING.items()}
_LONE_PARTIAL = r"\partial must be part of a derivative \frac{\partial f}{\partial x}"
_FREE, _BOUND = "\x00free:", "\x00bound:"  # temporary marks on indexed names inside a sum

Node = Tree | Token
Split = list[tuple[Expr | None, Expr | None]]  # terms outside * sum(inside)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True)


def read_latex(tex: str, symbols: Mapping[str, str], rows: Iterable[str] = ()) -> Expr:
    """Read one LaTeX formula into symbn's AST; ``symbols`` maps LaTeX symbols to names.
    ``rows``: the names that vary along the slice; inside a sum one of them must carry an
    index (an unindexed x there is neither clearly x_i nor clearly x_j)."""
    if not isinstance(tex, str):
        raise ExprError(f"expected LaTeX as a string, got {type(tex).__name__}")
    if len(tex) > MAX_LENGTH:
        raise ExprError(f"the formula is longer than {MAX_LENGTH} characters")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in dict(symbols).items()):
        raise ExprError("the symbol table must map LaTeX strings to symbn names")
    table = _symbol_table(tuple(sorted(dict(symbols).items())))
    text = _prepare(tex)
    tree = _parse(text)
    row_style = _row_style(tree, table)
    try:
        return _Reader(table, row_style, text, frozenset(rows)).read(tree)
    except RecursionError:
        raise ExprError("the formula is nested too deeply or is too long") from None


# --- text preparation: blank, never delete, so that columns stay those of ``tex`` ----------


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _prepare(tex: str) -> str:
    text = _strip_wrapper(tex)
    text = _ENVIRONMENT.sub(lambda m: " " * len(m.group()), text)
    equals = _check_brackets(text)
    if equals:
        text = _blank(text, 0, equals[-1] + 1)
    text = _EMPTY_TEXT.sub(lambda m: " " * len(m.group()), text)
    prose = _TEXT.search(text)
    if prose:
        raise ExprError(f"{prose.group()}{{...}} is prose, not mathematics: remove it", prose.start() + 1)
    if not text.strip():
        raise ExprError("the formula is empty" + (" after '='" if equals else ""), len(tex.rstrip()) + 1)
    return text


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


def _parse(text: str) -> Tree:
    try:
        return _parser().parse(text)
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
            pattern = _parser().get_terminal(name).pattern
            words.add(_TERMINAL_WORDS.get(name, pattern.value if pattern.type == "str" else name))
        except KeyError:
            words.add(_TERMINAL_WORDS.get(name, name))
    shown = sorted(words)
    return ", ".join(shown[:8]) + (", ..." if len(shown) > 8 else "") if shown else "something else"


# --- the symbol table ---------------------------------------------------------------------


def _key(base: str, sub: str | None, sup: str | None) -> str:
    return base + (f"_{{{sub}}}" if sub is not None else "") + (f"^{{{sup}}}" if sup is not None else "")


def _canon(node: Node | None) -> str:
    """The normal form of a piece of LaTeX: spacing and one-token braces do not matter."""
    if isinstance(node, Token):
        return _ALIASES.get(node.value, node.value)
    if node is None:
        return ""
    if node.data == "scripted":
        base, sub, sup = _scripts(node)
        return _key(_canon(base), None if sub is None else _canon(sub), None if sup is None else _canon(sup))
    if node.data == "accent":
        return f"{_canon(node.children[0])}{{{_canon(node.children[1])}}}"
    if node.data == "paren":
        return f"({_canon(node.children[0])})"
    return " ".join(_canon(child) for child in node.children)


@lru_cache(maxsize=64)
def _symbol_table(items: tuple[tuple[str, str], ...]) -> dict[str, str]:
    table: dict[str, str] = {}
    for key, name in items:
        try:
            symbol = _single(_parser().parse(key))
        except (LarkError, RecursionError):
            symbol = None
        if not isinstance(symbol, Tree) or symbol.data not in ("scripted", "letter", "command", "accent"):
            raise ExprError(f"the symbol table key {key!r} is not one LaTeX symbol")
        canonical = _canon(symbol)
        if table.get(canonical, name) != name:
            raise ExprError(f"the symbol table gives {key!r} two names: {table[canonical]!r} and {name!r}")
        table[canonical] = name
    return table


# --- tree helpers -------------------------------------------------------------------------


def _col(node: Node) -> int:
    if isinstance(node, Token):
        return (node.start_pos or 0) + 1
    if not node.meta.empty:
        return node.meta.start_pos + 1
    first = next(node.scan_values(lambda v: isinstance(v, Token)), None)
    return _col(first) if first is not None else 0


def _single(node: Node) -> Node:
    """Look through braces and one-element expressions: {x_i} -> x_i, {(r)} -> (r)."""
    while isinstance(node, Tree) and (
        node.data in ("brace", "start") or (node.data in ("expr", "product", "scripted") and len(node.children) == 1)
    ):
        node = node.children[0]
    return node


def _scripts(node: Tree) -> tuple[Node, Node | None, Node | None]:
    """(atom, subscript argument, superscript argument) of a scripted factor."""
    parts = {child.data: child.children[0] for child in node.children[1:]}
    return node.children[0], parts.get("sub"), parts.get("sup")


def _letter(node: Node | None) -> Token | None:
    inner = _single(node) if node is not None else None
    return inner.children[0] if isinstance(inner, Tree) and inner.data == "letter" else None


def _parenthesised(node: Node) -> bool:
    """A function's argument in parentheses (or braces), perhaps raised to a power."""
    if isinstance(node, Tree) and node.data == "scripted":
        node = node.children[0]
    return isinstance(node, Tree) and node.data in ("paren", "brace")


def _row_style(tree: Tree, table: Mapping[str, str]) -> bool:
    """Whether the formula writes row indices as superscripts ^{(r)} (seed 001's style).
    ``e^{(v)}`` with e not a symbol is exp(v), not a row index.  A subscript letter that
    is also a row superscript somewhere is ambiguous, and refused."""
    rows, subs = set(), []
    for t in tree.iter_subtrees():
        if t.data != "scripted":
            continue
        atom, sub, sup = _scripts(t)
        r = _row_index(sup)
        if r is not None and not (_canon(atom) == "e" and "e" not in table):
            rows.add(str(r))
        if _letter(sub) is not None:
            subs.append(_letter(sub))
    clash = [s for s in subs if str(s) in rows]
    if clash:
        raise ExprError(f"'{clash[0]}' is both a subscript and a row superscript ^{{({clash[0]})}}: write the row "
                        "index one way, as subscripts x_j or as superscripts x^{(j)}", clash[0].column)
    return bool(rows)


def _row_index(sup: Node | None) -> Token | None:
    """The r of a row superscript ^{(r)}, else None."""
    inner = _single(sup) if sup is not None else None
    return _letter(inner.children[0]) if isinstance(inner, Tree) and inner.data == "paren" else None


def _is_symbol(node: Node) -> bool:
    return isinstance(node, Tree) and node.data in ("letter", "command", "accent", "scripted")


def _mentions(e: Expr, mark: str) -> bool:
    if isinstance(e, Name):
        return e.id.startswith(mark)
    if isinstance(e, (Neg, Call)):
        return _mentions(e.arg, mark)
    if isinstance(e, BinOp):
        return _mentions(e.left, mark) or _mentions(e.right, mark)
    return False


def _unmark(e: Expr, mark: str) -> Expr:
    if isinstance(e, Name) and e.id.startswith(mark):
        return Name(e.id[len(mark) :], e.col)
    if isinstance(e, Neg):
        return Neg(_unmark(e.arg, mark), e.col)
    if isinstance(e, Call):
        return Call(e.fn, _unmark(e.arg, mark), e.col)
    if isinstance(e, BinOp):
        return BinOp(e.op, _unmark(e.left, mark), _unmark(e.right, mark), e.col)
    return e


def _times(a: Expr | None, b: Expr | None) -> Expr | None:
    """a*b, where None stands for 1."""
    if a is None or b is None:
        return b if a is None else a
    return BinOp("*", a, b, a.col)


def _over(a: Expr | None, b: Expr) -> Expr:
    """a/b, where None stands for 1."""
    return BinOp("/", a if a is not None else Num(Fraction(1)), b, b.col)


# --- the reader ---------------------------------------------------------------------------


class _Reader:
    """Walks the parse tree with the stack of bound indices and the free index."""

    def __init__(self, table: dict[str, str], row_style: bool, text: str, rows: frozenset[str] = frozenset()):
        self.table = table
        self.rows = rows
        self.row_style = row_style
        self.text = text
        self.bound: list[str] = []
        self.free: tuple[str, int] | None = None
        self.depth = 0
        # bases the table also maps with a power (\sigma and \sigma^2): the forms a formula reads
        self.powered = {re.split(r"[_^]", k)[0] for k in table if "^" in k}
        self.forms: dict[str, dict[str, int]] = {}

    def read(self, node: Tree) -> Expr:
        self.depth += 1
        if self.depth > 6 * MAX_NESTING:
            raise ExprError("the formula is nested too deeply", _col(node))
        try:
            return getattr(self, "_" + node.data)(node)
        finally:
            self.depth -= 1

    def _start(self, node: Tree) -> Expr:
        value = self.read(node.children[0])
        for base, forms in self.forms.items():
            if len(forms) > 1:
                (a, _), (b, col) = list(forms.items())[:2]
                raise ExprError(
                    f"{base} is read both as {a} and as {b}: the symbol table maps {base} and a power of it to "
                    "different stages, so one formula cannot use both; write the stages' own symbols", col)
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
                result = Neg(value, _col(sign)) if sign == "-" else value
            else:
                result = BinOp(str(sign), result, value, _col(sign))
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
                raise ExprError("a/bc is ambiguous: write \\frac{a}{bc}, or (a/b)c as \\frac{a}{b}c", _col(items[k][1]))
            if before.data == "func" and not _parenthesised(before.children[1]):
                raise ExprError("\\log 2x is ambiguous: write \\log(2x), or \\log(2)\\cdot x", _col(items[k][1]))
        result: Expr | None = None
        i = 0
        while i < len(items):
            op, factor = items[i]
            if factor.data == "partial":  # \partial f / \partial y
                if i + 1 < len(items) and items[i + 1][0] == "/" and items[i + 1][1].data == "partial":
                    value = self.adjoint(factor.children[1], items[i + 1][1])
                    i += 1
                else:
                    raise ExprError(_LONE_PARTIAL, _col(factor))
            else:
                value = self.read(factor)
            result = value if result is None else BinOp(op, result, value, _col(factor))
            i += 1
        assert result is not None
        return result

    def _number(self, node: Tree) -> Expr:
        digits = "".join(node.children)  # TeX reads "1 2" as 12, like "12"
        if len(digits) > MAX_LITERAL_DIGITS:
            raise ExprError(f"the number {digits[:20]}... has more than {MAX_LITERAL_DIGITS} characters", _col(node))
        return Num(Fraction(digits), _col(node))

    def _letter(self, node: Tree) -> Expr:
        return self.symbol(node, None, None)

    _command = _accent = _letter

    def _scripted(self, node: Tree) -> Expr:
        atom, sub, sup = _scripts(node)
        if _is_symbol(atom):
            return self.symbol(atom, sub, sup)
        if sub is not None:
            raise ExprError("a subscript needs a symbol in front of it", _col(sub))
        value = self.read(atom)
        return self.power(value, sup) if sup is not None else value

    def _func(self, node: Tree) -> Expr:
        name = "log" if node.children[0] in (r"\log", r"\ln") else "exp"
        factor = node.children[1]
        if factor.data == "scripted" and factor.children[0].data == "paren":
            atom, sub, sup = _scripts(factor)  # \exp(x)^2 is (exp x)^2
            if sub is None and sup is not None:
                return self.power(Call(name, self.read(atom), _col(node)), sup)
        return Call(name, self.read(factor), _col(node))

    def _partial(self, node: Tree) -> Expr:
        raise ExprError(_LONE_PARTIAL, _col(node))

    def _frac(self, node: Tree) -> Expr:
        _, numerator, denominator = node.children
        top = _single(numerator)
        if isinstance(top, Tree) and top.data == "partial":
            return self.adjoint(top.children[1], denominator)
        return BinOp("/", self.read(numerator), self.read(denominator), _col(node))

    def _sqrt(self, node: Tree) -> Expr:
        return Call("sqrt", self.read(node.children[1]), _col(node))

    def _root(self, node: Tree) -> Expr:
        col = self.text.index("[", node.children[0].end_pos) + 1
        raise ExprError(r"only square roots can be read: \sqrt[n]{..} is not supported", col)

    def _bigsum(self, node: Tree) -> Expr:
        sum_token, limits = node.children[0], node.children[1]
        sign = node.children[2] if isinstance(node.children[2], Token) else None
        index = self.limits(sum_token, limits)
        self.bound.append(index)
        try:
            body = self.read(node.children[-1])
        finally:
            self.bound.pop()
        body = Neg(body, _col(sign)) if sign == "-" else body
        total = self.sum_of(body, _col(sum_token))
        return total if self.bound else _unmark(total, _FREE)

    def limits(self, sum_token: Token, limits: Tree) -> str:
        """The index letter of a \\sum; its range must be the whole slice."""
        ranges = [c for c in limits.children if c.data in ("index_only", "index_range")]
        uppers = [c for c in limits.children if c.data not in ("index_only", "index_range")]
        if not ranges:
            raise ExprError(r"a \sum needs its index: write \sum_{i=1}^{N}", _col(sum_token))
        letter = ranges[0].children[0]
        if str(letter) in self.bound:
            raise ExprError(f"the index {letter} is already bound by an enclosing \\sum", _col(letter))
        lower = self.read(ranges[0].children[1]) if len(ranges[0].children) > 1 else None
        upper = self.read(uppers[0]) if uppers else None
        n = Name("N")
        whole = (lower in (None, Num(Fraction(1))) and upper in (None, n)) or (
            lower == Num(Fraction(0)) and upper == BinOp("-", n, Num(Fraction(1)))
        )
        if not whole or (lower is not None and upper is None):
            raise ExprError(
                r"a \sum must run over the whole slice: \sum_{i=1}^{N} (or 0..N-1, with N in the symbol table)",
                _col(sum_token),
            )
        return str(letter)

    def sum_of(self, body: Expr, col: int) -> Expr:
        """sum(body), with factors at the free index pulled out by linearity."""
        if not _mentions(body, _FREE):
            return Call("sum", _unmark(body, _BOUND), col)
        total: Expr | None = None
        for outside, inside in self.split(body, col):
            term: Expr = Call("sum", _unmark(inside if inside is not None else Num(Fraction(1)), _BOUND), col)
            term = BinOp("*", outside, term, col) if outside is not None else term
            total = term if total is None else BinOp("+", total, term, col)
        assert total is not None
        return total

    def split(self, e: Expr, col: int) -> Split:
        free, bound = _mentions(e, _FREE), _mentions(e, _BOUND)
        if not free:
            return [(None, e)]
        if not bound:
            return [(e, None)]
        parts: Split
        if isinstance(e, Neg):
            parts = [(Neg(o, col) if o is not None else Num(Fraction(-1)), i) for o, i in self.split(e.arg, col)]
        elif isinstance(e, BinOp) and e.op in "+-":
            right = self.split(e.right if e.op == "+" else Neg(e.right, e.col), col)
            parts = self.split(e.left, col) + right
        elif isinstance(e, BinOp) and e.op == "*":
            left, right = self.split(e.left, col), self.split(e.right, col)
            parts = [(_times(o1, o2), _times(i1, i2)) for o1, i1 in left for o2, i2 in right]
        elif isinstance(e, BinOp) and e.op == "/" and not _mentions(e.right, _FREE):
            parts = [(o, _over(i, e.right)) for o, i in self.split(e.left, col)]
        elif isinstance(e, BinOp) and e.op == "/" and not _mentions(e.right, _BOUND):
            parts = [(_over(o, e.right), i) for o, i in self.split(e.left, col)]
        else:
            raise ExprError(
                "a factor inside this \\sum mixes the free index with the summation index "
                "in a way symbn cannot separate (only products and sums are split)",
                e.col or col,
            )
        if len(parts) > MAX_TERMS:
            raise ExprError(f"splitting this \\sum gives more than {MAX_TERMS} terms", col)
        return parts

    # --- symbols, indices, powers and adjoints ---

    def resolve(self, atom: Tree, sub: Node | None, sup: Node | None) -> tuple[str, Token | None, Node | None]:
        """(symbn name, index token or None, superscript left as a power or None)."""
        atom, sub, sup = self.hoist(atom, sub, sup)
        base = _canon(atom)
        row = _row_index(sup)
        if row is not None:
            sup = None
        s = _canon(sub) if sub is not None else None
        p = _canon(sup) if sup is not None else None
        if s is not None and p is not None and _key(base, s, p) in self.table:
            return self.table[_key(base, s, p)], row, None
        if s is not None and _key(base, s, None) in self.table:
            return self.table[_key(base, s, None)], row, sup
        index = row
        if sub is not None:
            letter = _letter(sub)
            if letter is None:
                raise ExprError(
                    f"unknown symbol {_key(base, s, None)}: its subscript is neither in the symbol table "
                    "nor a one-letter index",
                    _col(sub),
                )
            index = index if self.row_style else letter
        if p is not None and _key(base, None, p) in self.table:
            return self.table[_key(base, None, p)], index, None
        if base in self.table:
            return self.table[base], index, sup
        known = ", ".join(sorted(self.table)) or "nothing"
        raise ExprError(f"unknown symbol {base}: the symbol table has {known}", _col(atom))

    def hoist(self, atom: Tree, sub: Node | None, sup: Node | None) -> tuple[Tree, Node | None, Node | None]:
        r"""\hat{x_i} reads as \hat{x}_i."""
        if atom.data != "accent":
            return atom, sub, sup
        inner = _single(atom.children[1])
        if not (isinstance(inner, Tree) and inner.data == "scripted"):
            return atom, sub, sup
        accented, inner_sub, inner_sup = _scripts(inner)
        if (inner_sub is not None and sub is not None) or (inner_sup is not None and sup is not None):
            raise ExprError("two subscripts or two superscripts on one symbol", _col(atom))
        bare = Tree("accent", [atom.children[0], accented], atom.meta)
        return bare, sub if sub is not None else inner_sub, sup if sup is not None else inner_sup

    def symbol(self, atom: Tree, sub: Node | None, sup: Node | None) -> Expr:
        if _canon(atom) == "e" and "e" not in self.table and sub is None and sup is not None:
            return Call("exp", self.read(sup), _col(atom))
        name, index, power = self.resolve(atom, sub, sup)
        base = _canon(self.hoist(atom, sub, sup)[0])
        if base in self.powered:
            form = name if power is None else f"{name}**{_canon(power)}"
            self.forms.setdefault(base, {}).setdefault(form, _col(atom))
        if name == LOSS:
            raise ExprError(f"{_canon(atom)} is the loss: it only appears as " + r"\frac{\partial f}{\partial x}", _col(atom))
        value = self.indexed(name, index, _col(atom))
        return self.power(value, power) if power is not None else value

    def indexed(self, name: str, index: Token | None, col: int) -> Expr:
        """The name at an index: bound by the innermost \\sum, or the free index."""
        if index is None:
            if self.bound and name in self.rows:
                raise ExprError(f"{name} inside \\sum_{self.bound[-1]} has no index: write it with _{self.bound[-1]} "
                                "(summed) or with the free index", col)
            return Name(name, col)
        letter = str(index)
        if self.bound and letter == self.bound[-1]:
            return Name(_BOUND + name, col)
        if letter in self.bound:
            raise ExprError(
                f"the index {letter} is bound by an outer \\sum: inside \\sum_{self.bound[-1]} it cannot be read",
                _col(index),
            )
        if self.free is None:
            self.free = (letter, _col(index))
        elif self.free[0] != letter:
            raise ExprError(
                f"two free indices, {self.free[0]} (column {self.free[1]}) and {letter}: "
                "an index must be bound by a \\sum or be the one free index",
                _col(index),
            )
        return Name(_FREE + name, col) if self.bound else Name(name, col)

    def power(self, value: Expr, sup: Node) -> Expr:
        exponent = self.read(sup)
        literal = exponent.arg if isinstance(exponent, Neg) else exponent
        if isinstance(literal, Num) and abs(literal.value) > MAX_EXPONENT:
            raise ExprError(f"the exponent {literal.value} is larger than {MAX_EXPONENT} in size", _col(sup))
        return BinOp("**", value, exponent, _col(sup))

    def adjoint(self, numerator: Node, denominator: Node) -> Expr:
        r"""\frac{\partial f}{\partial y_i} -> Name("dy") at index i."""
        top = _single(numerator)
        if not _is_symbol(top) or self.resolve(*self.parts(top))[0] != LOSS or self.parts(top)[1:] != (None, None):
            raise ExprError(
                f"only derivatives of the loss can be read: the numerator is {_canon(top)}, not the loss",
                _col(top),
            )
        bottom = _single(denominator)
        if isinstance(bottom, Tree) and bottom.data == "partial":
            bottom = _single(bottom.children[1])
        if not _is_symbol(bottom):
            raise ExprError("the derivative must be taken with respect to one symbol", _col(bottom))
        name, index, power = self.resolve(*self.parts(bottom))
        if name == LOSS or power is not None:
            raise ExprError(f"cannot read the derivative with respect to {_canon(bottom)}", _col(bottom))
        return self.indexed("d" + name, index, _col(bottom))

    @staticmethod
    def parts(node: Tree) -> tuple[Tree, Node | None, Node | None]:
        return _scripts(node) if node.data == "scripted" else (node, None, None)
