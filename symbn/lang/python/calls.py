"""Calls in code: NumPy and torch functions, array methods, and helper functions of the same file.

A library call is looked up in :mod:`.library` (its signature and what it computes); a
helper defined in the same file is read like the function itself, its parameters bound
to the arguments, at most ``MAX_DEPTH`` calls deep.  Nothing is ever called.
"""

from __future__ import annotations

import ast

from symbn.lang.python import library
from symbn.lang.python.operations import Operations
from symbn.lang.python.values import Array, Helper, Library, Unbound, describe

MAX_DEPTH = 16  # helper calls within helper calls
BUILTINS = ("float", "int", "len")


class Calls(Operations):
    """The calls of the interpreter (:class:`~.interpret.Interpreter` reads the rest)."""

    depth = 0
    libraries: set[str]

    # the interpreter's own, used here
    def expr(self, node: ast.expr, env: dict):  # pragma: no cover - defined by the interpreter
        raise NotImplementedError

    def attribute(self, obj, node: ast.Attribute):  # pragma: no cover - defined by the interpreter
        raise NotImplementedError

    def body(self, stmts: list[ast.stmt], env: dict, top: bool):  # pragma: no cover - defined by the interpreter
        raise NotImplementedError

    def call(self, node: ast.Call, env: dict):
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise self.error(node, "*args and **kwargs in a call are not supported")
        if isinstance(node.func, ast.Attribute):
            obj = self.expr(node.func.value, env)
            if isinstance(obj, Array):
                return self.method(obj, node, env)
            fn = self.attribute(obj, node.func)
        else:
            fn = self.expr(node.func, env)
        args = [self.expr(a, env) for a in node.args]
        kwargs = {k.arg: self.expr(k.value, env) for k in node.keywords}
        if isinstance(fn, Helper):
            return self.inline(fn.node, args, kwargs, node)
        if isinstance(fn, Library):
            return self.library(fn.path, args, kwargs, node)
        if isinstance(fn, Unbound):
            raise self.error(node, self.unbound(fn))
        raise self.error(node, f"{describe(fn)} cannot be called")

    def method(self, obj: Array, node: ast.Call, env: dict):
        name = node.func.attr
        entry, why = library.method(name, {k.arg for k in node.keywords}, self.flavours())
        if entry is None:
            raise self.error(node, why)
        args = [obj, *(self.expr(a, env) for a in node.args)]
        kwargs = {k.arg: self.expr(k.value, env) for k in node.keywords}
        return self.run_entry(entry, args, kwargs, node, f".{name}()")

    def flavours(self) -> set[str]:
        """The libraries the code uses (those it imports, or names): NumPy if none."""
        imported = {path[0] for path in self.unit.aliases.values()} if self.unit.imports else set()
        return (self.libraries | imported) or {library.NUMPY}

    def library(self, path: tuple[str, ...], args: list, kwargs: dict, node: ast.Call):
        what = ".".join(path)
        if path[0] == "builtins" and not kwargs and len(args) == 1:
            if path[1] == "len":
                return self.index(self.shape(self.array(args[0], node)), 0, node)
            value = args[0]
            self.operand(value, node)  # float(N) and int(N) are N itself
            return value
        entry = library.FUNCTIONS.get(path) if len(path) == 2 else None
        if entry is None:
            raise self.error(node, f"{what}() is not supported (symbn reads {', '.join(sorted({p[1] for p in library.FUNCTIONS}))} "
                                   "of numpy and torch)")
        return self.run_entry(entry, args, kwargs, node, what + "()")

    def run_entry(self, entry: library.Entry, args: list, kwargs: dict, node: ast.Call, what: str):
        try:
            bound = library.arguments(entry, args, kwargs, what)
        except ValueError as err:
            raise self.error(node, str(err)) from None
        first = entry.params[0]
        return entry.run(self, node, bound[first], **{k: v for k, v in bound.items() if k != first})

    def inline(self, fn: ast.FunctionDef, args: list, kwargs: dict, node: ast.Call):
        """A helper's body, read with its parameters bound to the arguments."""
        if self.depth >= MAX_DEPTH:
            raise self.error(node, f"helper calls nested more than {MAX_DEPTH} deep (recursion is not supported)")
        if fn.decorator_list or fn.args.vararg or fn.args.kwarg or fn.args.kwonlyargs or fn.args.posonlyargs:
            raise self.error(fn, f"the helper {fn.name} must be a plain function of named parameters")
        params = [p.arg for p in fn.args.args]
        if len(args) > len(params):
            raise self.error(node, f"{fn.name}() takes {len(params)} arguments, got {len(args)}")
        local = dict(zip(params, args))
        for key, value in kwargs.items():
            if key not in params or key in local:
                raise self.error(node, f"{fn.name}() got an unexpected or repeated argument '{key}'")
            local[key] = value
        defaults = dict(zip(params[len(params) - len(fn.args.defaults):], fn.args.defaults))
        for p in params:
            if p not in local:
                if p not in defaults:
                    raise self.error(node, f"{fn.name}() is missing the argument '{p}'")
                local[p] = self.expr(defaults[p], {})
        self.depth += 1
        try:
            value, _ = self.body(fn.body, local, top=False)
        finally:
            self.depth -= 1
        return value


__all__ = ["BUILTINS", "MAX_DEPTH", "Calls"]
