"""Reading code: a function's source, parsed with :mod:`ast`, never imported or executed.

A code claim names a function in a file (``path.py:function``), gives the source
inline, or passes a function object (whose *file* is read with :mod:`inspect`; the
object itself is never called).  What symbn keeps of the file: the function, the
other functions defined at its top level (helpers the code may call), the aliases of
its ``import`` lines (``import numpy as np``), and top-level constants
(``EPS = 1e-5``).  Nothing else in the file is looked at, and nothing is run.

Every problem is a :class:`CodeError`: ``file:line:column: what is wrong``.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_SOURCE = 200_000  # characters: a backward pass is a page, not a library
LIBRARIES = ("numpy", "torch")
DEFAULT_ALIASES = {"np": "numpy", "numpy": "numpy", "torch": "torch"}


class CodeError(ValueError):
    """Code that symbn does not read: one line, ``file:line:column: message``."""

    def __init__(self, file: str, line: int, col: int, message: str):
        self.file, self.line, self.col, self.message = file, line, col, message
        where = f"{file}:{line}:{col}" if line else file
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Unit:
    """A function to read, with what its file gives it."""

    file: str  # for messages
    function: ast.FunctionDef
    helpers: dict[str, ast.FunctionDef] = field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # np -> ("numpy",), sum -> ("numpy", "sum")
    constants: dict[str, ast.expr] = field(default_factory=dict)  # top-level NAME = number (its expression)
    text: str = ""
    imports: bool = False  # the file imports numpy or torch itself (else: a snippet, np and torch as usual)

    def error(self, node: ast.AST | None, message: str) -> CodeError:
        line = getattr(node, "lineno", 0) or 0
        col = (getattr(node, "col_offset", -1) or 0) + 1 if line else 0
        return CodeError(self.file, line, col, message)


def unit(code: Any, function: str | None = None, base: Path | None = None) -> Unit:
    """The function to read: ``code`` is a function object, a :class:`Path`, a spec
    ``"path.py:function"`` (relative to ``base``), or source text (``function`` picks one
    of its functions; without it the text must define exactly one)."""
    if callable(code) and not isinstance(code, (str, Path)):
        return _from_object(code)
    if isinstance(code, Path):
        return _from_file(code, function, str(code))
    if not isinstance(code, str):
        raise CodeError("<code>", 0, 0, f"expected source text, 'path.py:function' or a function, got {type(code).__name__}")
    if "\n" not in code and ":" in code and code.split(":")[0].strip().endswith(".py"):
        path_text, _, name = code.rpartition(":")
        path = Path(path_text.strip())
        if base is not None and not path.is_absolute():
            path = base / path
        return _from_file(path, name.strip() or function, path_text.strip())
    return parse(code, "<code>", function)


def _from_object(fn) -> Unit:
    name = getattr(fn, "__name__", "")
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        path = None
    if not path or name == "<lambda>":
        raise CodeError("<code>", 0, 0, f"symbn reads a function's source from its file, and {fn!r} has none "
                                        "(a lambda, a builtin, or defined at the prompt): pass its source as text")
    try:
        lines, _ = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        raise CodeError(path, 0, 0, f"cannot read the source of {name}") from None
    if lines and lines[0][:1].isspace():  # a method or a nested function: read its own text
        return parse(textwrap.dedent("".join(lines)), path, name)
    return _from_file(Path(path), name, path)


def _from_file(path: Path, function: str | None, shown: str) -> Unit:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CodeError(shown, 0, 0, "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CodeError(shown, 0, 0, f"cannot read the file: {err}") from None
    if not function:
        raise CodeError(shown, 0, 0, "say which function: PATH.py:FUNCTION")
    return parse(text, shown, function)


def parse(text: str, file: str = "<code>", function: str | None = None) -> Unit:
    """Parse source text (never executing it) and pick the function."""
    if len(text) > MAX_SOURCE:
        raise CodeError(file, 0, 0, f"the source is longer than {MAX_SOURCE} characters")
    try:
        tree = ast.parse(text, filename=file)
    except SyntaxError as err:
        raise CodeError(file, err.lineno or 0, err.offset or 0, f"not valid Python: {err.msg}") from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise CodeError(file, 0, 0, f"cannot parse the source: {type(err).__name__}") from None
    defs: dict[str, ast.FunctionDef] = {}
    aliases: dict[str, tuple[str, ...]] = {}
    constants: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            defs[node.name] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            aliases.update(_aliases(node))
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
              and _is_number(node.value)):
            constants[node.targets[0].id] = node.value
    chosen = _choose(file, defs, function, tree)
    imports = any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)
    if not imports:
        aliases = {k: (v,) for k, v in DEFAULT_ALIASES.items()}  # a snippet: np and torch as usual
    helpers = {name: d for name, d in defs.items() if d is not chosen}
    return Unit(file, chosen, helpers, aliases, constants, text, imports)


def _choose(file: str, defs: dict[str, ast.FunctionDef], function: str | None, tree: ast.Module) -> ast.FunctionDef:
    if function:
        if function not in defs:
            names = ", ".join(defs) or "none"
            raise CodeError(file, 0, 0, f"no function '{function}' at the top level of the file (its functions: {names})")
        return defs[function]
    if len(defs) != 1:
        names = ", ".join(defs) or "none"
        raise CodeError(file, 0, 0, f"the code defines {len(defs)} functions ({names}); say which one is the backward pass")
    return next(iter(defs.values()))


def _aliases(node: ast.Import | ast.ImportFrom) -> dict[str, tuple[str, ...]]:
    """What an import line makes a name mean (read, not run): only numpy and torch."""
    out: dict[str, tuple[str, ...]] = {}
    if isinstance(node, ast.Import):
        for a in node.names:
            root = a.name.split(".")[0]
            if a.name in LIBRARIES:
                out[a.asname or a.name] = (a.name,)
            elif root in LIBRARIES and a.asname is None:
                out[root] = (root,)
    elif node.module in LIBRARIES and node.level == 0:
        for a in node.names:
            out[a.asname or a.name] = (node.module, a.name)
    return out


def _is_number(node: ast.AST) -> bool:
    """A top-level constant that is a plain number (``EPS = 1e-5``, ``-1.0``)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _is_number(node.operand)
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


__all__ = ["CodeError", "Unit", "parse", "unit"]
