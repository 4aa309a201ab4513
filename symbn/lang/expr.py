"""The expression language of derivation files: a tiny AST, a safe parser, a printer.

Formulas are parsed with Python's :mod:`ast` against a whitelist of node types and
names: user text is never passed to ``eval``, ``sympify`` or ``parse_expr``.  The
result is a tree of frozen dataclasses that every realisation (moments, concrete,
LaTeX, NumPy) interprets on its own.

Semantics follow NumPy broadcasting over one slice of N values: a row name outside
``mean``/``sum`` means "at the free index j"; inside a reduction it is bound.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from fractions import Fraction

FUNCTIONS = ("sqrt", "exp", "log", "mean", "sum", "shard_sum", "shard_mean", "allreduce")
REDUCTIONS = ("mean", "sum")
BINARY_OPS = ("+", "-", "*", "/", "**")

MAX_LITERAL_DIGITS = 40  # a literal beyond this is almost surely a mistake (or an attack)
MAX_EXPONENT = 64  # |k| in x**k for a literal k; larger powers blow up expansion
MAX_DECIMAL_EXPONENT = 400  # |k| in 1ek: beyond float64's range, and 1e100000000 is an exact integer of 10**8 digits


class ExprError(ValueError):
    """A formula that is not in symbn's syntax. ``col`` is 1-based, 0 if unknown."""

    def __init__(self, message: str, col: int = 0):
        super().__init__(message)
        self.message = message
        self.col = col

    def __str__(self) -> str:
        return f"{self.message} (column {self.col})" if self.col else self.message


@dataclass(frozen=True)
class Num:
    value: Fraction
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Name:
    id: str
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Neg:
    arg: Expr
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class BinOp:
    op: str  # one of BINARY_OPS
    left: Expr
    right: Expr
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    fn: str  # one of FUNCTIONS
    arg: Expr
    col: int = field(default=0, compare=False)


Expr = Num | Name | Neg | BinOp | Call

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_FRIENDLY = {
    ast.Attribute: "attribute access is",
    ast.Subscript: "subscripts are",
    ast.Lambda: "lambdas are",
    ast.Compare: "comparisons are",
    ast.BoolOp: "boolean operators are",
    ast.IfExp: "conditional expressions are",
    ast.Starred: "starred arguments are",
    ast.List: "lists are",
    ast.Tuple: "tuples are",
    ast.Dict: "dicts are",
    ast.Set: "sets are",
    ast.JoinedStr: "f-strings are",
    ast.NamedExpr: "assignment expressions are",
}
_HINT = "use numbers, names, + - * / **, parentheses and sqrt/exp/log/mean/sum"


def parse(text: str) -> Expr:
    """Parse one formula. Raises :class:`ExprError` with a column on anything else."""
    if not isinstance(text, str):
        raise ExprError(f"expected a formula as a string, got {type(text).__name__}")
    source = text.strip()
    if not source:
        raise ExprError("the formula is empty")
    tree = _parse_python(source, "eval")
    return _Converter(source).convert(tree.body)


def parse_assignment(text: str) -> tuple[str, Expr]:
    """Parse a stage ``"name = formula"`` into its name and formula."""
    if not isinstance(text, str):
        raise ExprError(f"expected a stage as a string 'name = formula', got {type(text).__name__}")
    source = text.strip()
    head, eq, _ = source.partition("=")
    if not eq or not head.strip():
        raise ExprError("a stage is written 'name = formula', e.g. \"mu = mean(x)\"")
    tree = _parse_python(source, "exec")
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign):
        raise ExprError("a stage is written 'name = formula', e.g. \"mu = mean(x)\"")
    node = tree.body[0]
    if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
        raise ExprError("the left side of a stage must be one plain name", node.col_offset + 1)
    return node.targets[0].id, _Converter(source).convert(node.value)


def _parse_python(source: str, mode: str) -> ast.AST:
    if len(source) > 20_000:
        raise ExprError("the formula is longer than 20000 characters")
    try:
        return ast.parse(source, mode=mode)
    except SyntaxError as err:
        col = err.offset or 0
        raise ExprError(f"not a valid formula: {err.msg}", col) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError("the formula is nested too deeply or is not text") from None


class _Converter:
    """Python AST -> symbn AST, refusing every node outside the whitelist."""

    def __init__(self, source: str):
        self.source = source
        self.depth = 0

    def convert(self, node: ast.AST) -> Expr:
        self.depth += 1
        if self.depth > 200:
            raise ExprError("the formula is nested too deeply (more than 200 levels)")
        try:
            return self._convert(node)
        finally:
            self.depth -= 1

    def _convert(self, node: ast.AST) -> Expr:
        col = getattr(node, "col_offset", -1) + 1
        if isinstance(node, ast.Constant):
            return Num(self._number(node), col)
        if isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise ExprError(f"'{node.id}' is a function: call it as {node.id}(...)", col)
            if node.id.startswith("__"):
                raise ExprError(f"'{node.id}' is not an allowed name", col)
            return Name(node.id, col)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return Neg(self.convert(node.operand), col)
            if isinstance(node.op, ast.UAdd):
                return self.convert(node.operand)
            raise ExprError("only unary minus and plus are allowed", col)
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise ExprError(f"operator not allowed; {_HINT}", col)
            left, right = self.convert(node.left), self.convert(node.right)
            if op == "**":
                _check_exponent(right, col, isinstance(left, Num))
            return BinOp(op, left, right, col)
        if isinstance(node, ast.Call):
            return self._call(node, col)
        what = _FRIENDLY.get(type(node), f"{type(node).__name__} is")
        raise ExprError(f"{what} not allowed in a formula; {_HINT}", col)

    def _call(self, node: ast.Call, col: int) -> Expr:
        if not isinstance(node.func, ast.Name):
            raise ExprError(f"only sqrt/exp/log/mean/sum can be called; {_HINT}", col)
        fn = node.func.id
        if fn not in FUNCTIONS:
            raise ExprError(
                f"unknown function '{fn}': the functions are {', '.join(FUNCTIONS)}", col
            )
        if node.keywords:
            raise ExprError(f"{fn}() takes one argument without a name: write {fn}(e), not {fn}(name=e)", col)
        if len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise ExprError(f"{fn}() takes exactly one argument, got {len(node.args)}", col)
        return Call(fn, self.convert(node.args[0]), col)

    def _number(self, node: ast.Constant) -> Fraction:
        value = node.value
        col = node.col_offset + 1
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExprError(f"only numbers are allowed as constants, not {value!r}", col)
        text = ast.get_source_segment(self.source, node) or repr(value)
        text = text.replace("_", "")
        if len(text) > MAX_LITERAL_DIGITS:
            raise ExprError(f"the number {text[:20]}... has more than {MAX_LITERAL_DIGITS} characters", col)
        power = re.search(r"[eE]([+-]?\d+)$", text)
        if power and abs(int(power.group(1))) > MAX_DECIMAL_EXPONENT:
            raise ExprError(f"the number {text} has an exponent larger than {MAX_DECIMAL_EXPONENT} in size: no layer's "
                            f"constant needs it, and its exact value would have {abs(int(power.group(1)))} digits", col)
        try:
            return Fraction(text)  # exact: "0.1" is 1/10, "1e-5" is 1/100000
        except (ValueError, ZeroDivisionError):
            raise ExprError(f"cannot read the number {text!r}", col) from None


def _check_exponent(right: Expr, col: int, number: bool = False) -> None:
    """A power of a symbol expands (MAX_EXPONENT); a number's power is one exact number, as 1e-300 is."""
    limit = MAX_DECIMAL_EXPONENT if number else MAX_EXPONENT
    if isinstance(right, Neg) and isinstance(right.arg, Num):
        right = Num(-right.arg.value)
    if isinstance(right, Num) and abs(right.value) > limit:
        raise ExprError(f"the exponent {right.value} is larger than {limit} in size", col)


def names(e: Expr) -> set[str]:
    """Every name the formula mentions."""
    if isinstance(e, Name):
        return {e.id}
    return set().union(*(names(c) for c in children(e)))


def children(e: Expr) -> tuple[Expr, ...]:
    if isinstance(e, (Neg, Call)):
        return (e.arg,)
    if isinstance(e, BinOp):
        return (e.left, e.right)
    return ()


# --- printing --------------------------------------------------------------------

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "**": 4}


def to_text(e: Expr) -> str:
    """Print in the input syntax with the fewest parentheses; parse(to_text(e)) == e."""
    return _text(e, 0)


def _scientific(v: Fraction) -> str:
    """A long decimal (1/10^300, 10^50) as the literal that reads back to it exactly ('1e-300',
    '2.5e+50'), or '' where the plain form is as short or the value has no such literal."""
    p, q = v.numerator, v.denominator
    if p == 0 or len(str(p)) + len(str(q)) < 24:
        return ""
    twos, fives = (q & -q).bit_length() - 1, 0
    while q % 5 ** (fives + 1) == 0:
        fives += 1
    if q != 2**twos * 5**fives:
        return ""  # 1/3: no decimal literal
    k = max(twos, fives)
    m = p * 10**k // q  # v = m / 10^k exactly
    digits = str(m).rstrip("0")
    exponent = len(str(m)) - 1 - k
    if abs(exponent) > MAX_DECIMAL_EXPONENT:
        return ""  # the reader would refuse it
    head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    text = f"{head}e{exponent:+d}" if exponent > 0 else f"{head}e{exponent}"
    return text if len(text) < len(str(v)) else ""


def _text(e: Expr, outer: int) -> str:
    if isinstance(e, Num):
        v = e.value
        short = _scientific(abs(v))
        if v > 0 and (short or v.denominator == 1):
            return short or str(v.numerator)
        if v == 0:
            return "0"
        if short:
            s = "-" + short
        else:
            s = str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
        return f"({s})" if outer >= 1 else s
    if isinstance(e, Name):
        return e.id
    if isinstance(e, Call):
        return f"{e.fn}({_text(e.arg, 0)})"
    if isinstance(e, Neg):
        s = "-" + _text(e.arg, _PREC["neg"])
        return f"({s})" if _PREC["neg"] <= outer else s
    p = _PREC[e.op]
    sep = f" {e.op} " if p == 1 else e.op
    if e.op == "**":  # right-associative; binds tighter than a unary minus on its left
        s = _text(e.left, p) + sep + _text(e.right, p - 1)
    else:  # left-associative: the right operand needs a strictly higher level
        s = _text(e.left, p - 1) + sep + _text(e.right, p)
    return f"({s})" if p <= outer else s
