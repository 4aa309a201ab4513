"""Small layers for the soundness tests, with what a formula generator needs to know about each.

For every layer: the TOML text; correct formulas for the gradient with respect to inputs and
stages (``truths``; tests check them against the oracle before use); expressions that are
positive on the whole real domain (``positive``); expressions whose sign the layer does not give
(``unsigned``); and equivalent spellings of stage names on the domain (``subst``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    toml: str
    truths: dict  # wrt -> [correct formula texts]
    positive: list  # expressions > 0 on the domain (row or scalar)
    unsigned: list  # expressions of either sign on the domain
    subst: dict = field(default_factory=dict)  # stage name -> [equal expressions on the domain]
    zeros: list = field(default_factory=list)  # expressions that are 0 on the domain


CASES = {
    # BatchNorm with eps inside the root: sd = sqrt(var + eps)
    "bn_in": Case(
        toml="""
[layer]
name = "bn_in"
stages = ["mu = mean(x)", "xmu = x - mu", "var = mean(xmu**2)", "sd = sqrt(var + eps)", "ivar = 1/sd", "xhat = xmu*ivar", "y = gamma*xhat + beta"]
output = "y"
[inputs]
x = { kind = "row" }
gamma = { kind = "scalar" }
beta = { kind = "scalar" }
eps = { kind = "constant", positive = true, default = 1e-5 }
[closed_form]
x = "gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))"
gamma = "sum(dy*xhat)"
beta = "sum(dy)"
""",
        truths={
            "x": ["gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))",
                  "gamma/sd*(dy - mean(dy)) - gamma*xmu*sum(dy*xmu)/(N*sd**3)",
                  "dxmu - mean(dxmu)", "dxhat*ivar + dmu/N + dvar*2*xmu/N"],
            "gamma": ["sum(dy*xhat)", "sum(dy*xmu)/sd"],
            "beta": ["sum(dy)"],
            "var": ["-gamma*sum(dy*xmu)/(2*sd**3)"],
            "xmu": ["gamma*ivar*dy - gamma*xmu*sum(dy*xmu)/(N*sd**3)"],
        },
        positive=["sd", "var + eps", "eps", "ivar", "N", "exp(x)", "xmu**2 + eps", "sum(exp(dy))"],
        unsigned=["xmu", "x", "dy", "gamma", "beta", "mu", "xhat", "sum(dy*xmu)", "sum(dy)", "gamma*dy", "N - 2"],
        subst={
            "sd": ["sqrt(var + eps)", "(var + eps)**(1/2)", "1/ivar", "exp(log(var + eps)/2)", "sqrt(mean(xmu**2) + eps)"],
            "ivar": ["1/sd", "(var + eps)**(-1/2)", "1/sqrt(var + eps)", "sqrt(1/(var + eps))"],
            "xhat": ["xmu*ivar", "xmu/sd", "(x - mu)/sqrt(var + eps)"],
            "var": ["mean(xmu**2)", "sum(xmu**2)/N", "mean(x**2) - mu**2", "sd**2 - eps"],
            "xmu": ["x - mu", "x - sum(x)/N"],
            "mu": ["mean(x)", "sum(x)/N"],
        },
        zeros=["sum(xmu)", "mean(xhat)", "sum(x) - N*mu", "var - mean(xmu**2)"],
    ),
    # eps outside the root: den = sqrt(var) + eps, so var > 0 (N >= 2, x not constant)
    "bn_out": Case(
        toml="""
[layer]
name = "bn_out"
stages = ["mu = mean(x)", "xmu = x - mu", "var = mean(xmu**2)", "sd = sqrt(var)", "den = sd + eps", "y = gamma*xmu/den"]
output = "y"
[inputs]
x = { kind = "row" }
gamma = { kind = "scalar" }
eps = { kind = "constant", positive = true, default = 1e-5 }
[closed_form]
x = "gamma/den*(dy - mean(dy)) - gamma*sum(dy*xmu)*xmu/(N*sd*den**2)"
gamma = "sum(dy*xmu)/den"
""",
        truths={
            "x": ["gamma/den*(dy - mean(dy)) - gamma*sum(dy*xmu)*xmu/(N*sd*den**2)"],
            "gamma": ["sum(dy*xmu)/den"],
            "sd": ["-gamma*sum(dy*xmu)/den**2"],
            "var": ["-gamma*sum(dy*xmu)/(2*sd*den**2)"],
        },
        positive=["sd", "var", "den", "eps", "N", "sum(xmu**2)", "xmu**2 + eps"],
        unsigned=["xmu", "x", "dy", "gamma", "mu", "sum(dy*xmu)", "sd - eps", "N - 3"],
        subst={
            "sd": ["sqrt(var)", "var**(1/2)", "sqrt(sum(xmu**2))/sqrt(N)", "sqrt(sum(xmu**2)/N)", "var/sd", "exp(log(var)/2)"],
            "den": ["sd + eps", "sqrt(var) + eps"],
            "var": ["mean(xmu**2)", "sd**2"],
            "xmu": ["x - mu"],
            "mu": ["mean(x)"],
        },
        zeros=["sum(xmu)", "var - sd**2"],
    ),
    # unbiased variance: divides by N - 1, so N >= 2
    "unbiased": Case(
        toml="""
[layer]
name = "unbiased"
stages = ["mu = mean(x)", "xmu = x - mu", "var = sum(xmu**2)/(N - 1)", "sd = sqrt(var + eps)", "y = gamma*xmu/sd + beta"]
output = "y"
[inputs]
x = { kind = "row" }
gamma = { kind = "row" }
beta = { kind = "row" }
eps = { kind = "constant", positive = true, default = 1e-5 }
[closed_form]
x = "(gamma*dy - mean(gamma*dy) - xmu*sum(gamma*dy*xmu)/((N - 1)*sd**2))/sd"
gamma = "dy*xmu/sd"
beta = "dy"
""",
        truths={
            "x": ["(gamma*dy - mean(gamma*dy) - xmu*sum(gamma*dy*xmu)/((N - 1)*sd**2))/sd"],
            "gamma": ["dy*xmu/sd"],
            "beta": ["dy"],
            "var": ["-sum(gamma*dy*xmu)/(2*sd**3)"],
        },
        positive=["sd", "var + eps", "eps", "N", "N - 1", "exp(gamma)", "sd**2"],
        unsigned=["xmu", "x", "dy", "gamma", "beta", "sum(gamma*dy*xmu)", "var - eps", "mu", "N - 3"],
        subst={
            "var": ["sum(xmu**2)/(N - 1)", "mean(xmu**2)*N/(N - 1)", "sd**2 - eps"],
            "sd": ["sqrt(var + eps)", "sqrt(sum(xmu**2) + (N - 1)*eps)/sqrt(N - 1)", "(var + eps)**(1/2)"],
            "xmu": ["x - mu"],
            "mu": ["mean(x)"],
        },
        zeros=["sum(xmu)", "(N - 1)*var - sum(xmu**2)"],
    ),
    # a z-score with a constant c in a divisor: sd = sqrt(S/(N - c)), so N > c and S > 0
    "zc": Case(
        toml="""
[layer]
name = "zc"
stages = ["mu = mean(x)", "xmu = x - mu", "sd = sqrt(sum(xmu**2)/(N - c))", "y = xmu/sd"]
output = "y"
[inputs]
x = { kind = "row" }
c = { kind = "constant", default = 1 }
[closed_form]
x = "(dy - mean(dy) - xmu*sum(dy*xmu)/sum(xmu**2))/sd"
""",
        truths={
            "x": ["(dy - mean(dy) - xmu*sum(dy*xmu)/sum(xmu**2))/sd"],
            "sd": ["-sum(dy*xmu)/sd**2", "-sum(dy*xmu)*sqrt(N - c)/(sd*sqrt(sum(xmu**2)))"],
            "xmu": ["dy/sd - sum(dy*xmu)*xmu/((N - c)*sd**3)"],
        },
        positive=["sd", "N - c", "sum(xmu**2)", "N", "sum(xmu**2)/(N - c)", "exp(x - c)"],
        unsigned=["xmu", "x", "dy", "c", "c - 1", "mu", "sum(dy*xmu)", "N - 2*c", "N - c - 1"],
        subst={
            "sd": ["sqrt(sum(xmu**2)/(N - c))", "sqrt(sum(xmu**2))/sqrt(N - c)", "sum(xmu**2)**(1/2)*(N - c)**(-1/2)",
                   "1/sqrt((N - c)/sum(xmu**2))", "sum(xmu**2)/(sd*(N - c))"],
            "xmu": ["x - mu", "x - mean(x)"],
            "mu": ["mean(x)"],
        },
        zeros=["sum(xmu)", "sd**2*(N - c) - sum(xmu**2)"],
    ),
    "softmax": Case(
        toml="""
[layer]
name = "softmax"
stages = ["e = exp(x)", "Z = sum(e)", "p = e/Z", "y = t*p"]
output = "y"
[inputs]
x = { kind = "row" }
t = { kind = "scalar" }
[closed_form]
x = "t*p*(dy - sum(dy*p))"
t = "sum(dy*p)"
""",
        truths={
            "x": ["t*p*(dy - sum(dy*p))", "t*e/Z*dy - t*e*sum(dy*e)/Z**2"],
            "t": ["sum(dy*p)"],
            "Z": ["-t*sum(dy*e)/Z**2"],
            "p": ["t*dy"],
        },
        positive=["e", "Z", "p", "exp(x)", "sum(exp(x))", "N", "Z - e + 1"],
        unsigned=["x", "dy", "t", "sum(dy*p)", "x - mean(x)", "log(p) + 1", "t*dy", "N - 2"],
        subst={
            "p": ["e/Z", "exp(x)/sum(exp(x))", "exp(x - log(Z))", "exp(x)*exp(-log(Z))", "1/(Z/e)"],
            "Z": ["sum(e)", "sum(exp(x))", "exp(log(Z))"],
            "e": ["exp(x)", "p*Z"],
        },
        zeros=["sum(p) - 1", "Z - sum(e)", "log(e) - x"],
    ),
    "logsoftmax": Case(
        toml="""
[layer]
name = "logsoftmax"
stages = ["e = exp(x)", "Z = sum(e)", "lse = log(Z)", "y = x - lse"]
output = "y"
[inputs]
x = { kind = "row" }
[closed_form]
x = "dy - e/Z*sum(dy)"
""",
        truths={
            "x": ["dy - e/Z*sum(dy)", "dy - exp(x - lse)*sum(dy)", "dy - exp(x - log(sum(exp(x))))*sum(dy)"],
            "lse": ["-sum(dy)"],
            "Z": ["-sum(dy)/Z"],
        },
        positive=["e", "Z", "exp(lse)", "N", "exp(x - lse)", "Z/e"],
        unsigned=["x", "dy", "lse", "x - lse", "sum(dy)", "x - mean(x)", "log(e/Z) + 1", "N - 2"],
        subst={
            "lse": ["log(Z)", "log(sum(e))", "log(sum(exp(x)))", "-log(1/Z)", "2*log(sqrt(Z))"],
            "Z": ["sum(e)", "exp(lse)", "sum(exp(x))"],
            "e": ["exp(x)", "exp(x - lse)*Z"],
        },
        zeros=["sum(exp(x - lse)) - 1", "Z - exp(lse)", "log(e) - x"],
    ),
    # a positive scalar g (log and sqrt of it) and a scalar h of either sign
    "posg": Case(
        toml="""
[layer]
name = "posg"
stages = ["lg = log(g)", "r = sqrt(g)", "y = x*lg + r*x**2 + h"]
output = "y"
[inputs]
x = { kind = "row" }
g = { kind = "scalar", positive = true }
h = { kind = "scalar" }
[closed_form]
x = "dy*(lg + 2*r*x)"
g = "sum(dy*(x/g + x**2/(2*r)))"
h = "sum(dy)"
""",
        truths={
            "x": ["dy*(lg + 2*r*x)"],
            "g": ["sum(dy*(x/g + x**2/(2*r)))", "sum(dy*x)/g + sum(dy*x**2)/(2*sqrt(g))"],
            "h": ["sum(dy)"],
            "lg": ["sum(dy*x)"],
            "r": ["sum(dy*x**2)"],
        },
        positive=["g", "r", "sqrt(g)", "g**2 + 1", "N", "exp(h)", "1/g"],
        unsigned=["x", "h", "dy", "lg", "g - 1", "log(g)", "sum(dy*x)", "h - g", "N - 2"],
        subst={
            "r": ["sqrt(g)", "g**(1/2)", "g/sqrt(g)", "exp(lg/2)", "sqrt(g**3)/g"],
            "lg": ["log(g)", "2*log(r)", "log(g**2)/2", "-log(1/g)", "log(g*r) - log(r)"],
        },
        zeros=["lg - log(g)", "r**2 - g"],
    ),
}
