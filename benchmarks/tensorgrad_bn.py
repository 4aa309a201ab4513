"""BatchNorm's second derivative in tensorgrad (symbolic sizes), for benchmarks/bench_prove.py."""
import time

import sympy
import tensorgrad.functions as F
from tensorgrad import Variable

t = time.perf_counter()
N = sympy.symbols("N", positive=True, integer=True)
x, dy, ddx = Variable("x", b=N), Variable("dy", b=N), Variable("ddx", b=N)
eps = Variable("eps")
mu = F.mean(x, "b")
xc = x - mu
var = F.mean(xc * xc, "b")
y = xc * F.pow(var + eps, sympy.Rational(-1, 2))
f = F.sum(y * dy, "b")                     # <dy, y>
dx = f.grad(x).simplify()                  # first backward
h = F.sum(dx * ddx, "b")                   # h = <ddx, dx>
gI = h.grad(x).full_simplify()             # second order: d h / d x
print(f"{time.perf_counter() - t:.3f}")
