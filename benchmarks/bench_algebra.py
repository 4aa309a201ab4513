"""Exact zero tests of rational functions: python-flint against SymPy, on symbn's workload.

    python benchmarks/bench_algebra.py                       # the default cases (~16 min, 2 cores)
    python benchmarks/bench_algebra.py --cases every hard --repeat 3
    python benchmarks/bench_algebra.py --cases n8 n16 --backends flint-lcm sympy-field
    python benchmarks/bench_algebra.py --cases raw64         # not by default: ~15 min (6 runs capped)

The prover decides "A = B?" by "is the normal form of A - B zero?".  The pairs A, B are
gradients built by symbn itself, with radicals renamed to positive atoms so that they
are rational functions:

- every:  BatchNorm in the moment algebra (every N), dL/dx: direct vs forward, forward
          vs closed_form, and forward vs a wrong closed form (mean(dy) -> sum(dy)/(N-1));
- nK:     BatchNorm on a slice of K explicit symbols (K = 8, 16, 32, 64), dL/dx at j = 0:
          direct vs forward, and forward vs the wrong closed form;
- hard:   eps outside the root with the unbiased variance, every N: direct vs reverse,
          direct vs a closed form, and direct vs a wrong closed form (N - 1 -> N in the
          variance's derivative).  sqrt(var) is renamed by hand: S[x**2] is eliminated
          through s**2 = var.
- rawK:   as nK but in the raw coordinates x_1..x_K, not symbn's centred ones: the
          expressions are ~50x larger (the shape of bench_prove.py's plain-SymPy baseline).

Canonical leaves a numeric radical where the radicand's content is not a square
(sqrt(2) at N = 16 and 64); it becomes an atom r[2], and a non-zero numerator is then
reduced modulo r[2]**2 - 2 before it is called non-zero.

Backends (for each: convert s = SymPy tree -> backend's representation of A and of B;
decide s = A - B brought to num/den and num tested for zero):

- sympy-cancel  ``cancel(together(A - B))``: everything is in "decide"
- sympy-field   ``sympy.polys.fields.field(symbols, QQ)``: convert = ``K.from_expr`` of A
                and B (elements are kept reduced, a gcd per operation); decide = ``a - b == 0``
- sympy-ring-*  ``sympy.polys.rings.ring(symbols, QQ)`` PolyElement pairs, by the same tree
                walk as flint (strategies below)
- flint-*       ``flint.fmpq_mpoly`` pairs (num, den) by a walk of the SymPy tree:
    eager       at each Add: denominators combined by their lcm, then num/den cancelled
                by their gcd; at each Mul: the product cancelled by one gcd
    lcm         denominators combined by their lcm (a gcd of denominators only); the one
                num/den gcd at the end
    lazy        no gcd until the end (a/b + c/d = (ad + cb)/bd, except b == d)
- flint-nogcd   the lazy walk and no gcd at all: A - B = 0 iff a·d - c·b = 0, since no
                denominator is 0; the answer needs no normal form

Each backend runs in a forked child (the cases are inherited, not pickled), each run
capped at --cap seconds; SymPy's cache is cleared before every run.
"symbols" is the number of atoms of A - B; "terms" the number of terms of the reduced
numerators of A and of B (and of A - B when it is not zero, in the answer column).
Results are cross-checked: every backend's reduced A - B must be the same fraction.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import flint
import sympy as sp
from sympy.core.cache import clear_cache
from sympy.polys.domains import QQ
from sympy.polys.fields import field as sympy_field
from sympy.polys.rings import ring as sympy_ring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import cpu_model  # benchmarks/machine.py, beside this script

import symbn
from symbn.proof.canonical import Canonical
from symbn.proof.routes import Routes, realisation
from symbn.realise.concrete import Concrete

SIZES = (8, 16, 32, 64)
RAW_SIZES = (16, 32, 64)
GROUPS = ("every", *(f"n{n}" for n in SIZES), "hard", *(f"raw{n}" for n in RAW_SIZES))
DEFAULT_GROUPS = ("every", *(f"n{n}" for n in SIZES), "hard", "raw16", "raw32")
BACKENDS = (
    "sympy-cancel",
    "sympy-field",
    "sympy-ring-eager",
    "sympy-ring-lcm",
    "sympy-ring-lazy",
    "flint-eager",
    "flint-lcm",
    "flint-lazy",
    "flint-nogcd",
)

WRONG_MEAN = (
    "gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))",
    "gamma*ivar*(dy - sum(dy)/(N - 1) - xhat*mean(dy*xhat))",
)

HARD = """
[layer]
name = "bn_eps_outside_unbiased"
stages = ["mu = mean(x)", "xmu = x - mu", "var = sum(xmu**2)/(N - 1)", "sd = sqrt(var)", "xhat = xmu/(sd + eps)", "y = gamma*xhat + beta"]
output = "y"
[inputs]
x = { kind = "row" }
gamma = { kind = "scalar" }
beta = { kind = "scalar" }
eps = { kind = "constant", positive = true }
[closed_form]
x = "gamma/(sd + eps)*(dy - mean(dy)) - gamma*xmu*sum(dy*xmu)/(DENOM*sd*(sd + eps)**2)"
"""


def machine() -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SymPy {sp.__version__} (ground types {sp.external.gmpy.GROUND_TYPES}), python-flint {flint.__version__}"
    )


# --- the workload -------------------------------------------------------------------


@dataclass
class Case:
    name: str
    a: sp.Expr
    b: sp.Expr
    zero: bool  # the expected answer
    symbols: list[sp.Symbol] = field(default_factory=list)
    minpolys: dict[sp.Symbol, sp.Rational] = field(default_factory=dict)  # r -> c where r**2 = c

    def __post_init__(self):
        # Canonical leaves numeric radicals (the radicand's content: sqrt(2) at N = 16, 64);
        # they become atoms r with r**2 = c, which is what cancel() does with them too
        radicals = {p for e in (self.a, self.b) for p in e.atoms(sp.Pow) if p.base.is_Rational and p.exp.is_Rational}
        if any(p.exp.q != 2 for p in radicals):
            raise ValueError(f"{self.name}: a numeric radical other than a square root: {radicals}")
        names = {p: sp.Symbol(f"r[{p.base}]", positive=True) for p in radicals if p.exp == sp.S.Half}
        if len(names) != len(radicals):  # c**(k/2) for k != 1 is evaluated by SymPy: not met
            raise ValueError(f"{self.name}: unexpected numeric radicals {radicals}")
        self.a, self.b = self.a.xreplace(names), self.b.xreplace(names)
        self.minpolys = {r: p.base for p, r in names.items()}
        self.symbols = sorted(self.a.free_symbols | self.b.free_symbols, key=sp.default_sort_key)


def raw(layer, n: int) -> Concrete:
    """A slice of n explicit symbols x_1..x_n, not in centred coordinates."""
    kinds = {**layer.graph.kinds, "dy": layer.output_kind}
    positive = {name for name, i in layer.inputs.items() if i.positive}
    return Concrete(n, kinds, positive, centred=set(), j=0)


def batchnorm_cases(n: int | None, centred: bool = True) -> list[Case]:
    text = (ROOT / "derivations" / "batchnorm.toml").read_text(encoding="utf-8")
    assert WRONG_MEAN[0] in text
    layer = symbn.loads(text)
    wrong = symbn.loads(text.replace(WRONG_MEAN[0], WRONG_MEAN[1]))
    realise = realisation if centred else raw
    B = realise(layer, n)
    R = Routes(layer, B)
    Rw = Routes(wrong, realise(wrong, n))
    C = Canonical([B.input("eps")])
    forward = C.rewrite(R.gradient("forward", "x"))
    direct = C.rewrite(R.gradient("direct", "x"))
    # the wrong layer's own realisation has its own symbols of the same names and
    # assumptions, hence equal to B's: one Canonical serves both
    wrong_closed = C.rewrite(Rw.gradient("closed_form", "x"))
    tag = "bn every N" if n is None else f"bn N={n}" if centred else f"bn N={n} uncentred"
    cases = [Case(f"{tag}: direct - forward", direct, forward, True)]
    if n is None:
        closed = C.rewrite(R.gradient("closed_form", "x"))
        cases.append(Case(f"{tag}: forward - closed", forward, closed, True))
    cases.append(Case(f"{tag}: forward - wrong closed", forward, wrong_closed, False))
    return cases


def rename_root(e: sp.Expr, S2: sp.Symbol, value: sp.Expr, s: sp.Symbol) -> sp.Expr:
    """Substitute S2 = value (which makes var = s**2) and every sqrt(var)**k by s**k."""
    e = e.xreplace({S2: value})
    memo: dict[sp.Expr, sp.Expr] = {}

    def walk(x: sp.Expr) -> sp.Expr:
        hit = memo.get(x)
        if hit is not None:
            return hit
        if x.is_Atom:
            out = x
        else:
            out = x.func(*(walk(a) for a in x.args))
            if out.is_Pow and out.exp.is_Rational and not out.exp.is_Integer:
                if out.exp.q != 2 or sp.cancel(sp.together(out.base - s**2)) != 0:
                    raise ValueError(f"an unexpected radical: {out}")
                out = s**out.exp.p
        memo[x] = out
        return out

    return walk(e)


def hard_cases() -> list[Case]:
    layer = symbn.loads(HARD.replace("DENOM", "(N - 1)"))
    wrong = symbn.loads(HARD.replace("DENOM", "N"))
    B = realisation(layer, None)
    R = Routes(layer, B)
    Rw = Routes(wrong, realisation(wrong, None))
    var = sp.sympify(R.env["var"])
    S2 = next(a for a in var.free_symbols if str(a) == "S[x[i]**2]")
    s = sp.Symbol("s", positive=True)
    (value,) = sp.solve(sp.Eq(var, s**2), S2)  # var is linear in S[x**2]

    def rw(e):
        return rename_root(e, S2, value, s)

    direct = rw(R.gradient("direct", "x"))
    reverse = rw(R.gradient("reverse", "x"))
    wrong_closed = rw(Rw.gradient("closed_form", "x"))
    closed = rw(R.gradient("closed_form", "x"))
    return [
        Case("eps-outside unbiased: direct - reverse", direct, reverse, True),
        Case("eps-outside unbiased: direct - closed", direct, closed, True),
        Case("eps-outside unbiased: direct - wrong closed", direct, wrong_closed, False),
    ]


def build(groups: list[str], built: dict[str, float]) -> list[Case]:
    """The cases of the groups; built[group] = seconds to build them (routes and rewrite)."""
    cases: list[Case] = []
    for g in groups:
        t = time.perf_counter()
        if g == "every":
            cases += batchnorm_cases(None)
        elif g == "hard":
            cases += hard_cases()
        elif g.startswith("raw"):
            cases += batchnorm_cases(int(g[3:]), centred=False)
        else:
            cases += batchnorm_cases(int(g[1:]))
        built[g] = time.perf_counter() - t
        print(f"built {g} in {built[g]:.1f} s", file=sys.stderr)
    return cases


# --- polynomial arithmetic, two implementations -----------------------------------------


class FlintOps:
    """(num, den) pairs of flint.fmpq_mpoly in one context whose generators are the atoms."""

    def __init__(self, symbols: list[sp.Symbol]):
        names = [str(x) for x in symbols]
        if len(set(names)) != len(names):  # the context is keyed by names: they must differ
            names = [f"v{i}" for i in range(len(symbols))]
        self.ctx = flint.fmpq_mpoly_ctx.get(names, "degrevlex")
        self.gen = dict(zip(symbols, self.ctx.gens()))
        self.one = self.ctx.constant(1)

    def const(self, r: sp.Rational):
        return self.ctx.constant(flint.fmpq(int(r.p), int(r.q)))

    @staticmethod
    def gcd(p, q):
        return p.gcd(q)  # monic (leading coefficient 1); gcd(0, q) = q/lc(q)

    @staticmethod
    def exquo(p, q):
        return p / q  # exact division; raises DomainError when not exact

    @staticmethod
    def is_one(p) -> bool:
        return p.is_one()

    @staticmethod
    def is_zero(p) -> bool:
        return p.is_zero()

    @staticmethod
    def nterms(p) -> int:
        return len(p)

    @staticmethod
    def normal(n, d):
        c = d.leading_coefficient()
        return n / c, d / c

    def to_flint(self, p, F: FlintOps):
        return p


class RingOps:
    """(num, den) pairs of SymPy's sparse PolyElement over QQ."""

    def __init__(self, symbols: list[sp.Symbol], R=None):
        if R is None:
            R, *_ = sympy_ring(symbols, QQ, "grevlex")
        self.R = R
        self.gen = dict(zip(symbols, R.gens))
        self.one = R.one

    @classmethod
    def of(cls, R, symbols: list[sp.Symbol]) -> RingOps:
        return cls(symbols, R)

    def const(self, r: sp.Rational):
        return self.R.ground_new(QQ(int(r.p), int(r.q)))

    @staticmethod
    def gcd(p, q):
        return p.gcd(q)

    @staticmethod
    def exquo(p, q):
        return p.exquo(q)

    @staticmethod
    def is_one(p) -> bool:
        return p == 1

    @staticmethod
    def is_zero(p) -> bool:
        return not p

    @staticmethod
    def nterms(p) -> int:
        return len(p)

    @staticmethod
    def normal(n, d):
        c = d.LC
        return n.quo_ground(c), d.quo_ground(c)

    @staticmethod
    def to_flint(p, F: FlintOps):
        return F.ctx.from_dict({m: flint.fmpq(int(c.numerator), int(c.denominator)) for m, c in p.terms()})


class Walker:
    """SymPy tree -> (num, den) with a gcd strategy: "eager", "lcm" or "lazy"."""

    def __init__(self, ops, strategy: str):
        self.ops, self.strategy = ops, strategy
        self.memo: dict[sp.Expr, tuple] = {}

    def cancel(self, n, d):
        o = self.ops
        g = o.gcd(n, d)
        if not o.is_one(g):
            n, d = o.exquo(n, g), o.exquo(d, g)
        return n, d

    def add(self, x, y):
        (a, b), (c, d) = x, y
        o = self.ops
        if b == d:
            return a + c, b
        if self.strategy == "lazy":
            return a * d + c * b, b * d
        g = o.gcd(b, d)
        if o.is_one(g):
            return a * d + c * b, b * d
        bg, dg = o.exquo(b, g), o.exquo(d, g)
        return a * dg + c * bg, bg * d

    def __call__(self, e: sp.Expr):
        hit = self.memo.get(e)
        if hit is not None:
            return hit
        o = self.ops
        if e.is_Symbol:
            out = (o.gen[e], o.one)
        elif e.is_Rational:
            out = (o.const(e), o.one)
        elif e.is_Add:
            parts = [self(a) for a in e.args]
            out = parts[0]
            for p in parts[1:]:
                out = self.add(out, p)
            if self.strategy == "eager":
                out = self.cancel(*out)
        elif e.is_Mul:
            n, d = o.one, o.one
            for a in e.args:
                an, ad = self(a)
                n, d = n * an, d * ad
            if self.strategy == "eager":
                n, d = self.cancel(n, d)
            out = (n, d)
        elif e.is_Pow and e.exp.is_Integer:
            n, d = self(e.base)
            k = int(e.exp)
            if k < 0:
                if o.is_zero(n):
                    raise ZeroDivisionError(str(e))
                n, d, k = d, n, -k
            out = (n**k, d**k)
        else:
            raise TypeError(f"not a rational function of atoms: {e!r}")
        self.memo[e] = out
        return out


# --- the backends ------------------------------------------------------------------------


@dataclass
class Run:
    """One run of one backend on one case (sent from the child that measured it)."""

    convert: float | None
    decide: float
    zero: bool
    fraction: tuple[dict, dict] | None  # the reduced A - B as two to_dict()s, to cross-check
    terms: str = ""  # terms of the reduced numerators of A and B
    shape: str = ""  # terms of the reduced A - B's numerator/denominator when not zero


def reduces_to_zero(n, ops, case: Case) -> bool:
    """n = 0 modulo r**2 - c for each numeric radical r: the remainder by one such
    polynomial is unique, and r**2 - c is irreducible, so this decides n(sqrt(c)) = 0."""
    for r, c in case.minpolys.items():
        g = ops.gen[r]
        n = n % (g**2 - ops.const(c)) if isinstance(ops, FlintOps) else n.rem(g**2 - ops.const(c))
    return bool(case.minpolys) and ops.is_zero(n)


def as_dicts(n, d, ops, F: FlintOps) -> tuple[dict, dict]:
    """(num, den) in flint, den made monic, as picklable dicts (fmpq_mpoly does not pickle)."""
    n, d = F.normal(ops.to_flint(n, F), ops.to_flint(d, F))
    return n.to_dict(), d.to_dict()


def run_walk(case: Case, kind: str, strategy: str, F: FlintOps) -> Run:
    t0 = time.perf_counter()
    ops = FlintOps(case.symbols) if kind == "flint" else RingOps(case.symbols)
    w = Walker(ops, "lazy" if strategy == "nogcd" else strategy)
    a, b = w(case.a), w(case.b)
    t1 = time.perf_counter()
    if strategy == "nogcd":
        n = a[0] * b[1] - b[0] * a[1]
        zero = ops.is_zero(n) or reduces_to_zero(n, ops, case)
        return Run(t1 - t0, time.perf_counter() - t1, zero, None)
    if strategy == "lazy":
        n, d = a[0] * b[1] - b[0] * a[1], a[1] * b[1]
    else:
        n, d = w.add(a, (-b[0], b[1]))
    n, d = w.cancel(n, d)
    zero = ops.is_zero(n) or reduces_to_zero(n, ops, case)
    t2 = time.perf_counter()
    terms = "" if strategy == "lazy" else f"{ops.nterms(a[0])}+{ops.nterms(b[0])}"
    shape = "" if zero else f"{ops.nterms(n)}/{ops.nterms(d)}"
    return Run(t1 - t0, t2 - t1, zero, as_dicts(n, d, ops, F), terms, shape)


def run_field(case: Case, F: FlintOps) -> Run:
    t0 = time.perf_counter()
    K, *_ = sympy_field(case.symbols, QQ, "grevlex")
    a, b = K.from_expr(case.a), K.from_expr(case.b)
    t1 = time.perf_counter()
    d = a - b
    zero = d == 0 or reduces_to_zero(d.numer, RingOps.of(K.ring, case.symbols), case)
    t2 = time.perf_counter()
    shape = "" if zero else f"{len(d.numer)}/{len(d.denom)}"
    return Run(t1 - t0, t2 - t1, zero, as_dicts(d.numer, d.denom, RingOps, F), f"{len(a.numer)}+{len(b.numer)}", shape)


def run_cancel(case: Case, F: FlintOps) -> Run:
    t = time.perf_counter()
    r = sp.cancel(sp.together(case.a - case.b))
    t = time.perf_counter() - t
    n, d = sp.fraction(r)
    w = Walker(F, "lazy")
    (nn, nd), (dn, dd) = w(n), w(d)
    return Run(None, t, r == 0, as_dicts(nn * dd, nd * dn, F, F))


def run_once(case: Case, backend: str, F: FlintOps) -> Run:
    if backend == "sympy-cancel":
        return run_cancel(case, F)
    if backend == "sympy-field":
        return run_field(case, F)
    kind, *_, strategy = backend.split("-")
    return run_walk(case, "flint" if kind == "flint" else "ring", strategy, F)


def child(case: Case, backend: str, repeat: int, F: FlintOps, conn) -> None:
    for _ in range(repeat):
        clear_cache()  # cold: nothing of SymPy's cache is reused across runs
        gc.collect()
        r = run_once(case, backend, F)
        conn.send(r)
        if (r.convert or 0.0) + r.decide > 30:  # one slow run is enough
            break
    conn.send(None)
    conn.close()


@dataclass
class Result:
    runs: list[Run]
    capped: bool

    def best(self, attr: str) -> float | None:
        values = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return min(values) if values else None


def measure(case: Case, backend: str, repeat: int, cap: float, F: FlintOps) -> Result:
    """Runs in a forked child (the case is inherited, not pickled); each run is capped."""
    ctx = mp.get_context("fork")
    parent, end = ctx.Pipe(duplex=False)
    p = ctx.Process(target=child, args=(case, backend, repeat, F, end))
    p.start()
    end.close()
    runs, capped = [], False
    while True:
        if not parent.poll(cap):
            capped = True
            p.terminate()  # the child this function started
            break
        try:
            r = parent.recv()
        except EOFError:  # the child died
            raise RuntimeError(f"{case.name} / {backend}: the child exited with {p.exitcode}") from None
        if r is None:
            break
        runs.append(r)
    p.join()
    return Result(runs, capped)


def same(x: tuple[dict, dict], y: tuple[dict, dict]) -> bool:
    return x == y  # both normalised: reduced, denominator monic


# --- main ----------------------------------------------------------------------------------


def fmt(t: float | None) -> str:
    return "–" if t is None else f"{t:.4f}" if t < 1 else f"{t:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(DEFAULT_GROUPS), choices=GROUPS)
    parser.add_argument("--backends", nargs="*", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--cap", type=float, default=120.0, help="seconds for one run of one backend")
    args = parser.parse_args()

    built: dict[str, float] = {}
    cases = build(args.cases, built)
    print(
        f"machine: {machine()}; best of {args.repeat} (one run when it took over 30 s), capped at {args.cap:.0f} s a run\n"
    )
    print("| case | symbols | terms | backend | convert s | decide s | total s | answer |")
    print("|---|---|---|---|---|---|---|---|")
    problems = []
    for case in cases:
        F = FlintOps(case.symbols)
        results = {b: measure(case, b, args.repeat, args.cap, F) for b in args.backends}
        terms = next((r.terms for res in results.values() for r in res.runs if r.terms), "")
        for backend, res in results.items():
            if res.runs:
                r = res.runs[-1]
                answer = ("zero" if r.zero else "non-zero") + (f" ({r.shape} terms)" if r.shape else "")
                if len(res.runs) < args.repeat:
                    answer += f", best of {len(res.runs)}"
                if res.capped:
                    answer += f", then a run over {args.cap:.0f} s"
                if any(x.zero != r.zero for x in res.runs) or r.zero != case.zero:
                    problems.append(f"{case.name}: {backend} says {answer}")
            else:
                answer = f"capped: over {args.cap:.0f} s"
            convert, decide = res.best("convert"), res.best("decide")
            totals = [(x.convert or 0.0) + x.decide for x in res.runs]
            total = min(totals) if totals else None
            print(
                f"| {case.name} | {len(case.symbols)} | {terms} | {backend} | {fmt(convert)} | {fmt(decide)} "
                f"| {fmt(total)} | {answer} |",
                flush=True,
            )
        fractions = [(b, res.runs[-1].fraction) for b, res in results.items() if res.runs and res.runs[-1].fraction]
        for b, f in fractions[1:]:
            if not same(fractions[0][1], f):
                problems.append(f"{case.name}: {b} and {fractions[0][0]} disagree")
    print()
    print(
        "building the cases (routes, then Canonical.rewrite or the renaming; not in the table): "
        + ", ".join(f"{g} {t:.1f} s" for g, t in built.items())
    )
    print(
        "cross-check: "
        + ("every backend agrees with the expected answer and with the others" if not problems else "; ".join(problems))
    )


if __name__ == "__main__":
    main()
