"""The interpreter: a function's statements read over one slice, into a :class:`~.program.Program`.

It walks the function's :mod:`ast` (never running it): assignments, augmented
assignments (in place, as NumPy's ``+=`` is), tuple unpacking, arithmetic, the calls
of :mod:`.library`, ``x.shape``, and calls of helper functions defined in the same
file, whose bodies are read the same way.  Anything else is a :class:`CodeError` with
the file, line and column and what is not supported.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from fractions import Fraction

from symbn.ir.graph import Builder, Var
from symbn.ir.primitives import BY_INFIX, neg_p
from symbn.lang.expr import MAX_LITERAL_DIGITS
from symbn.lang.python import calls, layout
from symbn.lang.python.bind import Binder, Target
from symbn.lang.python.calls import Calls
from symbn.lang.python.operations import ShapeFault
from symbn.lang.python.program import Fault, Program, Record, Returned
from symbn.lang.python.source import CodeError, Unit
from symbn.lang.python.values import Array, Const, Container, Helper, Library, Seq, Unbound, describe

_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_UNSUPPORTED = {
    ast.For: "loops are", ast.While: "loops are", ast.If: "if statements are", ast.With: "with blocks are",
    ast.Try: "try blocks are", ast.FunctionDef: "functions defined inside the function are",
    ast.ClassDef: "classes are", ast.Delete: "del is", ast.Global: "global is", ast.Nonlocal: "nonlocal is",
    ast.Raise: "raise is", ast.AsyncFunctionDef: "async functions are", ast.AsyncFor: "loops are",
    ast.AsyncWith: "with blocks are", ast.Import: "imports inside the function are",
    ast.ImportFrom: "imports inside the function are", ast.Match: "match statements are",
    ast.Lambda: "lambdas are", ast.Compare: "comparisons are", ast.BoolOp: "and/or are",
    ast.IfExp: "conditional expressions are", ast.Dict: "dicts are", ast.Set: "sets are",
    ast.ListComp: "comprehensions are", ast.SetComp: "comprehensions are", ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "generators are", ast.JoinedStr: "f-strings are", ast.NamedExpr: ":= is",
    ast.Await: "await is", ast.Yield: "yield is", ast.YieldFrom: "yield is", ast.Starred: "starred expressions are",
    ast.Slice: "slices are",
}


class Interpreter(Calls):
    """Reads one function of a :class:`Unit` against the layer's names."""

    def __init__(self, unit: Unit, graph_vars: Mapping[str, Var], count: int, kinds: Mapping[str, str],
                 bind: Mapping[str, Target], axis: int, rank: int = 2, shared: set[str] = frozenset()):
        builder = Builder(kinds)
        builder.vars.update(graph_vars)
        builder._count = count  # temporaries stay unique beside the graph's
        super().__init__(unit, builder, graph_vars["N"], rank, axis)
        self.binder = Binder(kinds, bind, rank, axis, shared)
        self.records: list[Record] = []
        self.targets: dict[int, str] = {}  # line -> the names its statement assigns (for faults mid-statement)
        self.depth = 0
        self.libraries: set[str] = set()

    def unbound(self, u: Unbound) -> str:
        return self.binder.unbound(u)

    # --- the function -------------------------------------------------------------------------

    def program(self) -> Program:
        fn = self.unit.function
        if fn.decorator_list:
            raise self.error(fn.decorator_list[0], "decorators are not supported: symbn reads the plain function")
        env = self.parameters(fn)
        returns, fault = (), None
        try:
            value, node = self.body(fn.body, env, top=True)
            returns = self.returned(value, node)
        except ShapeFault as err:
            fault = self.fault(err)
        except RecursionError:
            raise self.error(fn, "the code is nested too deeply to read") from None
        return Program(self.unit.file, fn.name, tuple(self.builder.eqns), returns, self.finalised(),
                       dict(self.binder.bind), self.notes(returns), fault)

    def parameters(self, fn: ast.FunctionDef) -> dict:
        a = fn.args
        if a.vararg or a.kwarg:
            raise self.error(a.vararg or a.kwarg, "*args and **kwargs are not supported: name the parameters")
        positional = [*a.posonlyargs, *a.args]
        defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        env = {p.arg: self.binder.parameter(p, d) for p, d in zip(positional, defaults)}
        env.update({p.arg: self.binder.parameter(p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults)})
        return env

    def body(self, stmts: list[ast.stmt], env: dict, top: bool):
        for stmt in stmts:
            if isinstance(stmt, ast.Return):
                if stmt.value is None:
                    raise self.error(stmt, "return without a value: return the gradients")
                return self.expr(stmt.value, env), stmt
            self.statement(stmt, env, top)
        raise self.error(stmts[-1] if stmts else None, "the function ends without a return")

    def returned(self, value, node: ast.Return) -> tuple[Returned, ...]:
        items = value.items if isinstance(value, Seq) else (value,)
        elts = node.value.elts if isinstance(node.value, (ast.Tuple, ast.List)) else [node.value]
        out = []
        for k, item in enumerate(items):
            elt = elts[k] if len(elts) == len(items) else node.value
            a = self.array(item, elt)
            name = elt.id if isinstance(elt, ast.Name) else ""
            if a.across and a.across[2] != "sum":
                line, axis, how = a.across
                raise self.error(elt, f"line {line} takes the {how} over axis {axis}, across slices (the slice is axis "
                                      f"{self.axis}); a parameter shared by slices gets the sum of their gradients")
            out.append(Returned(a.atom, a.layout, elt.lineno, elt.col_offset + 1, name, a.across[:2] if a.across else None))
            self.records.append(Record(elt.lineno, elt.col_offset + 1, name or f"return value {k + 1}", a.atom,
                                       a.layout.show(), "return", across=a.across is not None))
        return tuple(out)

    def fault(self, err: ShapeFault) -> Fault:
        line = getattr(err.node, "lineno", 0)
        col = getattr(err.node, "col_offset", 0) + 1
        blame = err.blame
        if blame is None:
            return Fault(line, col, err.message, line, self._name_at(line), "shapes that broadcast", "")
        return Fault(line, col, err.message, blame.line, self._name_at(blame.line), f"shape {blame.kept} (keepdims=True)",
                     f"shape {blame.got}")

    def _name_at(self, line: int) -> str:
        return next((r.name for r in self.records if r.line == line), self.targets.get(line, ""))

    def finalised(self) -> tuple[Record, ...]:
        last = {r.name: k for k, r in enumerate(self.records) if r.how != "return"}
        return tuple(Record(r.line, r.col, r.name, r.atom, r.shape, r.how, last.get(r.name) == k, r.across)
                     for k, r in enumerate(self.records))

    def notes(self, returns: tuple[Returned, ...]) -> tuple[str, ...]:
        """One note per returned value, '' unless it is a sum over other slices."""
        out = []
        for r in returns:
            if r.across:
                line, axis = r.across
                out.append(f"line {line} sums {r.name or 'a returned value'} over axis {axis}, across slices (a "
                           "parameter shared by slices): symbn checks the summand per slice")
            else:
                out.append("")
        return tuple(out)

    # --- statements ---------------------------------------------------------------------------

    def statement(self, stmt: ast.stmt, env: dict, top: bool) -> None:
        if top:
            names = [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
            self.targets.update({line: ", ".join(names) for line in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1)})
        if isinstance(stmt, (ast.Pass, ast.Assert)):
            return  # nothing to compute (an assert is never evaluated)
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            return  # a docstring
        if isinstance(stmt, ast.Assign):
            value = self.expr(stmt.value, env)
            how = "read" if self._reads_inputs(stmt.value, env) else "="
            for target in stmt.targets:
                self.assign(target, value, env, top, how)
            return
        if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self.assign(stmt.target, self.expr(stmt.value, env), env, top)
            return
        if isinstance(stmt, ast.AugAssign):
            self.augment(stmt, env, top)
            return
        if isinstance(stmt, ast.Expr):
            raise self.error(stmt, "a statement whose value is not kept is not supported: symbn reads assignments "
                                   "and a return")
        what = _UNSUPPORTED.get(type(stmt), f"{type(stmt).__name__} statements are")
        raise self.error(stmt, f"{what} not supported: symbn reads straight-line code")

    def assign(self, target: ast.expr, value, env: dict, top: bool, how: str = "=") -> None:
        if isinstance(target, ast.Name):
            env[target.id] = value
            if top and isinstance(value, Array):
                self.records.append(Record(target.lineno, target.col_offset + 1, target.id, value.atom,
                                           value.layout.show(), how, across=value.across is not None))
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            for t, v in zip(target.elts, self.unpack(target, value), strict=True):
                self.assign(t, v, env, top, how)
            return
        if isinstance(target, ast.Subscript):
            raise self.error(target, "assigning into part of an array (x[...] = ...) is not supported")
        raise self.error(target, f"assigning to {type(target).__name__} is not supported; assign to a name")

    def _reads_inputs(self, node: ast.expr, env: dict) -> bool:
        """Whether an assignment only takes the code's inputs apart (``x, mu = cache``,
        ``xhat = cache['x_norm']``): its names are bindings, not computed values."""
        if isinstance(node, (ast.Tuple, ast.List)):
            return bool(node.elts) and all(self._reads_inputs(e, env) for e in node.elts)
        if isinstance(node, (ast.Subscript, ast.Attribute)):
            node = node.value
        return isinstance(node, ast.Name) and isinstance(env.get(node.id), Container)

    def unpack(self, target: ast.Tuple | ast.List, value) -> list:
        n = len(target.elts)
        if any(isinstance(e, ast.Starred) for e in target.elts):
            raise self.error(target, "starred unpacking is not supported")
        if isinstance(value, Container):
            how = f"unpacked from {value.name}"
            return [self._read_name(t, how, target.lineno) for t in target.elts]
        if isinstance(value, Seq):
            if len(value.items) != n:
                raise self.error(target, f"{n} names for a tuple of {len(value.items)}")
            return list(value.items)
        if isinstance(value, Unbound):
            raise self.error(target, self.unbound(value))
        raise self.error(target, f"cannot unpack {describe(value)} into {n} names")

    def _read_name(self, t: ast.expr, how: str, line: int):
        if not isinstance(t, ast.Name):
            raise self.error(t, "unpack a container into plain names")
        return self.binder.read(t.id, how, line)

    def augment(self, stmt: ast.AugAssign, env: dict, top: bool) -> None:
        target = stmt.target
        if not isinstance(target, ast.Name):
            raise self.error(target, "augmented assignment to anything but a name is not supported")
        if target.id not in env:
            raise self.error(target, f"'{target.id}' is used before it is assigned")
        op = _OPS.get(type(stmt.op))
        if op is None:
            raise self.error(stmt, f"the operator {type(stmt.op).__name__}= is not supported")
        old = env[target.id]
        result = self.apply(BY_INFIX[op], [old, self.expr(stmt.value, env)], stmt)
        if not isinstance(old, Array) or not isinstance(result, Array):
            env[target.id] = result  # a Python number: += rebinds
            return
        if result.layout != old.layout and layout.broadcast(old.layout, result.layout) != old.layout:
            raise ShapeFault(stmt, f"{target.id} {op}= ... cannot write shape {result.layout.show()} into "
                                   f"{target.id}'s shape {old.layout.show()} (NumPy raises)", result.dropped)
        old.atom, old.across, old.dropped = result.atom, result.across, result.dropped  # in place: aliases see it
        if top:
            self.records.append(Record(target.lineno, target.col_offset + 1, target.id, old.atom, old.layout.show(),
                                       op + "=", across=old.across is not None))

    # --- expressions ------------------------------------------------------------------------------

    def expr(self, node: ast.expr, env: dict):
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node, env)
        if isinstance(node, ast.BinOp):
            op = _OPS.get(type(node.op))
            if op is None:
                extra = " (@ is a matrix product: symbn reads elementwise code)" if isinstance(node.op, ast.MatMult) else ""
                raise self.error(node, f"the operator {type(node.op).__name__} is not supported{extra}")
            return self.apply(BY_INFIX[op], [self.expr(node.left, env), self.expr(node.right, env)], node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return self.apply(neg_p, [self.expr(node.operand, env)], node)
            if isinstance(node.op, ast.UAdd):
                return self.expr(node.operand, env)
            raise self.error(node, f"the operator {type(node.op).__name__} is not supported")
        if isinstance(node, ast.Call):
            return self.call(node, env)
        if isinstance(node, ast.Attribute):
            return self.attribute(self.expr(node.value, env), node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, env)
        if isinstance(node, (ast.Tuple, ast.List)):
            return Seq(tuple(self.expr(e, env) for e in node.elts))
        what = _UNSUPPORTED.get(type(node), f"{type(node).__name__} is")
        raise self.error(node, f"{what} not supported here")

    def constant(self, node: ast.Constant) -> Const:
        v = node.value
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return Const(v)
        if isinstance(v, int):
            if len(str(abs(v))) > MAX_LITERAL_DIGITS:
                raise self.error(node, f"the number has more than {MAX_LITERAL_DIGITS} digits")
            return Const(v)
        if isinstance(v, float):
            text = (ast.get_source_segment(self.unit.text, node) or repr(v)).replace("_", "")
            if len(text) > MAX_LITERAL_DIGITS:
                raise self.error(node, f"the number {text[:20]}... has more than {MAX_LITERAL_DIGITS} characters")
            try:
                return Const(Fraction(text))  # exact: 0.1 is 1/10
            except (ValueError, ZeroDivisionError):
                return Const(Fraction(repr(v)))
        raise self.error(node, f"the constant {v!r} is not supported")

    def name(self, node: ast.Name, env: dict):
        n = node.id
        if n in env:
            return env[n]
        if n in self.unit.constants:
            value = self.expr(self.unit.constants[n], {})
            return value
        if n in self.unit.helpers:
            return Helper(self.unit.helpers[n])
        if n in self.unit.aliases:
            path = self.unit.aliases[n]
            self.libraries.add(path[0])
            return Library(path)
        if n in calls.BUILTINS:
            return Library(("builtins", n))
        raise self.error(node, f"name '{n}' is not defined in the function (nor a helper, numpy or torch)")

    def attribute(self, obj, node: ast.Attribute):
        if isinstance(obj, Library):
            return Library((*obj.path, node.attr))
        if isinstance(obj, Container):
            if node.attr in ("shape", "ndim", "T", "dtype"):
                raise self.error(node, self.container(obj))
            return self.binder.read(node.attr, f"{obj.name}.{node.attr}", node.lineno)
        if isinstance(obj, Array):
            if node.attr == "shape":
                return self.shape(obj)
            if node.attr == "ndim":
                return Const(obj.layout.rank)
            raise self.error(node, f"the attribute .{node.attr} of an array is not supported")
        if isinstance(obj, Unbound):
            raise self.error(node, self.unbound(obj))
        raise self.error(node, f"{describe(obj)} has no attribute .{node.attr} that symbn reads")

    def subscript(self, node: ast.Subscript, env: dict):
        obj = self.expr(node.value, env)
        key = node.slice
        if isinstance(obj, Container):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                return self.binder.read(key.value, f"{obj.name}['{key.value}']", node.lineno)
            raise self.error(node, f"symbn reads the entries of '{obj.name}' by name: {obj.name}['mean'], or unpack it "
                                   "into names")
        if isinstance(obj, Array):
            raise self.error(node, "indexing an array (x[...]) is not supported: symbn reads whole-array code")
        if isinstance(obj, Unbound):
            raise self.error(node, self.unbound(obj))
        return self.index(obj, self.expr(key, env), node)

def read(unit: Unit, graph_vars: Mapping[str, Var], count: int, kinds: Mapping[str, str], bind: Mapping[str, Target],
         axis: int = 0, rank: int = 2, shared: set[str] = frozenset()) -> Program:
    """Read ``unit``'s function against the layer's names.  Raises :class:`CodeError`."""
    if not -rank <= axis < rank:
        raise CodeError(unit.file, 0, 0, f"--axis {axis} is out of range for arrays of rank {rank}")
    return Interpreter(unit, graph_vars, count, kinds, bind, axis % rank, rank, shared).program()


__all__ = ["Interpreter", "read"]
