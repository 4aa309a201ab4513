"""Every JVP and VJP rule, by itself and exactly.

Each rule is checked against SymPy's ``diff`` of the primitive's own evaluation
rule, and the two tables against each other through the transposition identity
⟨J·t, c⟩ = ⟨t, Jᵀ·c⟩, for every primitive and every argument.  Elementwise
primitives are checked on symbols; reductions on an explicit slice of three.
The identity is also checked through the interpreters, for every mix of row and
per-slice arguments, which covers the unbroadcasting sum of reverse mode.
"""

from fractions import Fraction

import pytest
import sympy as sp

from symbn.ad.interpret import primal
from symbn.ad.jvp import jvp, jvp_rules
from symbn.ad.vjp import vjp, vjp_rules
from symbn.ir.graph import Builder
from symbn.ir.primitives import CONSTANT, PRIMITIVES, ROW, SCALAR, SHARD, MissingRule
from symbn.realise.concrete import Concrete, Row
from symbn.realise.shards import PerShard, Sharded

ELEMENTWISE = [p for p in PRIMITIVES.values() if not p.reduction and not p.reads]
REDUCTIONS = [p for p in PRIMITIVES.values() if p.reduction]
N = 3


def _scalars(arity: int) -> Concrete:
    return Concrete(1, {f"a{k}": SCALAR for k in range(arity)}, positive={f"a{k}" for k in range(arity)})


def test_every_primitive_has_both_rules_one_per_argument():
    for prim in PRIMITIVES.values():
        assert len(jvp_rules[prim]) == prim.arity, prim
        assert len(vjp_rules[prim]) == prim.arity, prim


@pytest.mark.parametrize("prim", ELEMENTWISE, ids=lambda p: p.name)
def test_elementwise_rules_are_the_derivative_of_the_evaluation_rule(prim):
    B = _scalars(prim.arity)
    args = [B.input(f"a{k}") for k in range(prim.arity)]
    ans = prim.impl(B, *args)
    t, c = sp.symbols("t c")
    for k in range(prim.arity):
        d = sp.diff(ans, args[k])
        tangent = jvp_rules[prim][k](B, t, ans, *args)
        cotangent = vjp_rules[prim][k](B, c, ans, *args)
        assert sp.simplify(tangent - d * t) == 0, (prim, k, "jvp")
        assert sp.simplify(cotangent - d * c) == 0, (prim, k, "vjp")
        assert sp.simplify(tangent * c - t * cotangent) == 0, (prim, k, "transposition")


@pytest.mark.parametrize("prim", REDUCTIONS, ids=lambda p: p.name)
def test_reduction_rules_are_the_derivative_of_the_evaluation_rule(prim):
    B = Concrete(N, {"x": ROW})
    x = B.input("x")
    ans = prim.impl(B, x)
    t = Row(sp.symbols(f"t1:{N + 1}"))
    c = sp.Symbol("c")
    grad = [sp.diff(ans, xi) for xi in x.items]
    tangent = jvp_rules[prim][0](B, t, ans, x)
    assert sp.simplify(tangent - sum(g * ti for g, ti in zip(grad, t.items))) == 0, (prim, "jvp")
    spread = vjp_rules[prim][0](B, c, ans, x)  # a per-slice adjoint: what every x_i receives
    for i in range(N):
        assert sp.simplify(spread - c * grad[i]) == 0, (prim, "vjp", i)
    assert sp.simplify(c * tangent - sum(ti * spread for ti in t.items)) == 0, (prim, "transposition")


KINDS = [(ROW, ROW), (ROW, SCALAR), (SCALAR, ROW), (SCALAR, SCALAR)]


@pytest.mark.parametrize("prim", PRIMITIVES.values(), ids=lambda p: p.name)
def test_transposition_through_the_interpreters(prim):
    """⟨J·t, c⟩ = ⟨t, Jᵀ·c⟩ for a one-equation graph, every argument, every mix of kinds."""
    mixes = [k[: prim.arity] for k in (KINDS if prim.arity == 2 else [(ROW,), (SCALAR,)])]
    if prim.reads:
        mixes = [(prim.reads,)]
    for kinds in dict.fromkeys(mixes):
        names = [f"a{k}" for k in range(prim.arity)]
        b = Builder({**dict(zip(names, kinds)), "N": CONSTANT})
        out = b.emit(prim, tuple(b.vars[n] for n in names), "s")
        b.define("s", out, "s")
        graph = b.graph(names, ["s"], "s")
        B = Concrete(N, {**dict(zip(names, kinds)), "s": graph.output.kind, "dy": graph.output.kind},
                     positive=set(names) if "log" in prim.name or "pow" in prim.name or "sqrt" in prim.name else set())
        if any(k == ROW for k in kinds) and prim.name in ("log", "sqrt", "pow"):
            B.positive |= set(names)
        env = primal(graph, B)
        c = B.input("dy")
        adjoints = vjp(graph, B, env, c)
        for name, kind in zip(names, kinds):
            t = Row(sp.symbols(f"t1:{N + 1}")) if kind == ROW else sp.Symbol("t")
            tangent = jvp(graph.eqns, B, env, {name: t}).get(graph.vars["s"])
            left = B.sum(tangent * c) if graph.output.kind == ROW else tangent * c
            right = B.sum(t * adjoints[name]) if kind == ROW else t * adjoints[name]
            assert sp.simplify(sp.expand(left - right)) == 0, (prim, kinds, name)


def test_a_missing_rule_is_a_named_error(monkeypatch):
    prim = PRIMITIVES["log"]
    monkeypatch.delitem(jvp_rules, prim)
    monkeypatch.delitem(vjp_rules, prim)
    b = Builder({"x": ROW, "N": CONSTANT})
    b.define("s", b.emit(prim, (b.vars["x"],), "s"), "s")
    graph = b.graph(["x"], ["s"], "s")
    B = Concrete(2, {"x": ROW, "s": ROW, "dy": ROW}, positive={"x"})
    env = primal(graph, B)
    with pytest.raises(MissingRule, match="forward mode: no rule for the primitive 'log'"):
        jvp(graph.eqns, B, env, {"x": B.seed(ROW)})
    with pytest.raises(MissingRule, match="reverse mode: no rule for the primitive 'log'"):
        vjp(graph, B, env, B.input("dy"))


def test_constant_arguments_get_no_rule_call():
    """pow with a constant exponent never asks for log of its base (which may be negative)."""
    b = Builder({"x": ROW, "N": CONSTANT})
    b.define("s", b.emit(PRIMITIVES["pow"], (b.vars["x"], Fraction(2)), "s"), "s")
    graph = b.graph(["x"], ["s"], "s")
    B = Concrete(2, {"x": ROW, "s": ROW, "dy": ROW})
    env = primal(graph, B)
    assert not sp.sympify(B.sum(vjp(graph, B, env, B.input("dy"))["x"])).has(sp.log)
    assert not sp.sympify(B.sum(jvp(graph.eqns, B, env, {"x": B.seed(ROW)})["s"])).has(sp.log)


SPLIT = [PRIMITIVES[n] for n in ("sum", "mean", "shard_sum", "shard_mean", "allreduce")]


@pytest.mark.parametrize("prim", SPLIT, ids=lambda p: p.name)
def test_transposition_on_a_slice_split_across_two_devices(prim):
    """Shards of 2 and 3: the sums within a shard, over the devices and over the slice, and
    the interpreter's unbroadcasting (a per-shard value fed its shard's rows), exactly."""
    kind = prim.reads
    b = Builder({"a": kind, "N": CONSTANT})
    b.define("s", b.emit(prim, (b.vars["a"],), "s"), "s")
    graph = b.graph(["a"], ["s"], "s")
    out = graph.output.kind
    kinds = {"a": kind, "s": out, "dy": out}
    B = Sharded([Concrete(2, kinds, label="1:"), Concrete(3, kinds, label="2:")], kinds)
    env = primal(graph, B)
    c = B.input("dy") if out != SHARD else PerShard([sp.Symbol("c1"), sp.Symbol("c2")])
    adjoint = vjp(graph, B, env, c)["a"]
    t = B.input("a") if kind == ROW else PerShard([sp.Symbol("t1"), sp.Symbol("t2")])
    t = t.map(lambda r: r.map(lambda x: sp.Symbol("t" + str(x))) if isinstance(r, Row) else r) if kind == ROW else t
    tangent = jvp(graph.eqns, B, env, {"a": t})[graph.output]

    def inner(u, v, k):
        if k == ROW:
            return B.sum(u * v)
        return B.allreduce(u * v) if k == SHARD else u * v

    assert sp.simplify(sp.expand(inner(tangent, c, out) - inner(t, adjoint, kind))) == 0
