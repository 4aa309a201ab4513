r"""Printers for the display algebra: LaTeX (per element and vectorised) and plain text.

Renderers are printers (STYLE.md): SymPy's :class:`LatexPrinter` and :class:`StrPrinter`
do the work; these subclasses only add what symbn's atoms mean.  A moment atom
``S[dy_i*xmu_i]`` prints as :math:`\sum_{i=1}^{N} \frac{\partial f}{\partial y_i}(x_i-\mu)`,
a row atom as its file's LaTeX name with the index, ``δ_ij`` as :math:`\delta_{ij}`, and a
composite atom (a stage whose LaTeX name is a formula, such as x − μ) as that formula.

Products are written the way people write them: number, scalars, rows, then factors that
extend to the right (∂-fractions, parenthesised sums, Σ), so ``γ/σ (…)`` rather than a
fraction with a sum in its numerator.  Long expressions are broken by :meth:`Latex.lines`
at the + and − of a sum into lines of bounded *rendered* width (:func:`width` counts what
TeX draws, not source characters), so an ``align*`` never runs off the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from symbn.realise.moments import DELTA, N


class Latex(LatexPrinter):
    """LaTeX of display-algebra values.

    ``names``: atom -> LaTeX; ``expand``: composite atom -> the expression it stands for;
    ``moments``: moment atom -> body; ``rows``: atoms that vary along the slice;
    ``late``: atoms written last in a sum (constants: v + ε); ``vector``: the vectorised
    form (whole-slice names, ⊙, sum and mean over the slice).
    """

    _default_settings: ClassVar[dict] = {**LatexPrinter._default_settings, "vector": False}

    def __init__(
        self,
        names: Mapping,
        expand: Mapping,
        moments: Mapping,
        rows: set,
        late: set = frozenset(),
        vector: bool = False,
    ):
        super().__init__({"vector": vector})
        self.names, self.expand, self.moments, self.rows, self.late = names, expand, moments, rows, set(late)
        self.vector = vector
        self._budget = float("inf")  # a term wider than this is split into pieces (lines())

    def doprint(self, expr) -> str:
        expr = sp.sympify(expr)
        return super().doprint(self.expand.get(expr, expr))

    def lines(self, expr, budget: float) -> list[str]:
        """The LaTeX of ``expr`` in lines of estimated width <= budget, broken only at the + and −
        of a sum: the top-level sum, or the bracketed sum of a product too wide for a line (then in
        ``\\biggl(`` … ``\\biggr)``, which TeX can break).  A product is never broken at its ×."""
        expr = sp.sympify(expr)
        expr = self.expand.get(expr, expr)
        tex = self._print(expr)
        if width(tex) <= budget:
            return [tex]
        if expr.is_Add:
            return self._pack(self._terms(expr, budget), budget)
        if self._one_sum(expr) is not None:
            return self._bracketed(expr, budget)
        return [tex]

    def _one_sum(self, expr: sp.Expr) -> sp.Expr | None:
        """The one sum among the factors of a product, if there is exactly one."""
        adds = [f for f in expr.args if f.is_Add] if expr.is_Mul else []
        return adds[0] if len(adds) == 1 else None

    def _bracketed(self, expr: sp.Mul, budget: float) -> list[str]:
        """A product with one sum among its factors, the sum broken inside \\biggl( … \\biggr)."""
        add = self._one_sum(expr)
        others = [f for f in expr.args if f is not add]
        sums = [f for f in others if self._is_moment(f)]
        outer = sp.Mul(*(f for f in others if f not in sums))
        head = "-" if outer == -1 else "" if outer == 1 else self._print(outer)
        inner = self._pack(self._terms(add, budget - width(head) - 2), budget - width(head) - 2)
        inner[0] = rf"{head} \biggl({inner[0]}"
        inner[-1] = (rf"{inner[-1]} \biggr) " + " ".join(self._print(s) for s in sums)).rstrip()
        return inner

    def _terms(self, expr: sp.Expr, budget: float) -> list[tuple[str, bool]]:
        """The terms of a sum with their signs, in the order _print_Add uses, each with whether it
        must start a line: a term too wide for a line that is a product with one bracketed sum
        comes as the lines of that sum (:meth:`_bracketed`)."""
        out = []
        for k, term in enumerate(self._as_ordered_terms(expr, order=None)):
            sign = "" if k == 0 else "+ "
            if k and term.could_extract_minus_sign():
                sign, term = "- ", -term
            tex = self._print(term)
            if self._needs_add_brackets(term):
                tex = rf"\left({tex}\right)"
            if width(tex) > budget and self._one_sum(term) is not None:
                lines = self._bracketed(term, budget - width(sign))
                out.append((sign + lines[0], True))
                out.extend((line, True) for line in lines[1:])
            else:
                out.append((sign + tex, False))
        return out

    def _pack(self, terms: list[tuple[str, bool]], budget: float) -> list[str]:
        lines = [terms[0][0]]
        forced = terms[0][1]
        for term, alone in terms[1:]:
            if alone or forced or width(lines[-1]) + width(term) > budget:
                lines.append(term if term.startswith("{}") else "{}" + term)  # {} keeps a leading sign binary
            else:
                lines[-1] += " " + term
            forced = alone
        return lines

    # --- atoms ---------------------------------------------------------------------------

    def _print_Symbol(self, expr, style="plain"):
        if expr in self.moments:
            return self._sum(self.moments[expr])
        if expr in self.expand:
            inner = self.expand[expr]
            tex = self._print(inner)
            return rf"\left({tex}\right)" if inner.is_Add or inner.could_extract_minus_sign() else tex
        if expr in self.names:
            return self.names[expr]
        if expr == DELTA:
            return r"\delta_{ij}"
        return super()._print_Symbol(expr, style)

    def _sum(self, body: sp.Expr) -> str:
        tex = self._print(body)
        if self.vector:
            return rf"\operatorname{{sum}}\left({self._bare(body)}\right)"
        if body.is_Add or body.could_extract_minus_sign():
            tex = rf"\left({tex}\right)"
        return rf"\sum_{{i=1}}^{{N}} {tex}"

    def _bare(self, e: sp.Expr) -> str:
        """A composite atom without its parentheses (alone in a fraction or a bracket)."""
        return self._print(self.expand[e]) if e in self.expand else self._print(e)

    def _is_moment(self, f: sp.Expr) -> bool:
        return f in self.moments or (f.is_Pow and f.base in self.moments and f.exp.is_positive)

    def _is_partial(self, f: sp.Expr) -> bool:
        return self.names.get(f, "").startswith(r"\frac")

    # --- sums: positive terms first, rows before scalars, constants last -----------------------

    def _as_ordered_terms(self, expr, order=None):
        terms = super()._as_ordered_terms(expr, order=order)

        def key(t):
            negative = t.could_extract_minus_sign()
            return negative, not negative and not self._row(t), self._constant(t)

        return sorted(terms, key=key)

    def _row(self, e: sp.Expr) -> bool:
        return bool(e.free_symbols & self.rows)

    def _constant(self, e: sp.Expr) -> bool:
        return bool(e.free_symbols) and e.free_symbols <= self.late | {N}

    def _addlike(self, e: sp.Expr) -> bool:
        e = self.expand.get(e, e)
        return e.is_Add

    # --- products -----------------------------------------------------------------------------

    def _print_Mul(self, expr):
        coeff, factors = expr.as_coeff_mul()
        sign = "- " if coeff < 0 else ""
        coeff = abs(coeff)
        numer, denom, tails = [], [], []
        for f in factors:
            if f.is_Pow and f.exp.is_negative:
                denom.append(f.base**-f.exp)
            elif self._is_moment(f) or self._is_partial(f) or (f.is_Add and width(self._print(f)) > 12):
                tails.append(f)
            else:
                numer.append(f)
        if denom and any(map(self._addlike, numer)) and not (all(map(self._addlike, numer)) and coeff.p == 1):
            tails += [f for f in numer if self._addlike(f)]  # 2/N (x_j - mu), not 2 (x_j - mu) / N
            numer = [f for f in numer if not self._addlike(f)]
        mean = None
        if self.vector and N in denom and len([t for t in tails if t in self.moments]) == 1:
            denom.remove(N)  # (1/N) sum(...) is mean(...)
            mean = next(t for t in tails if t in self.moments)
        numer.sort(key=lambda f: (f != N, f.is_Add or f in self.expand, self._row(f)))
        denom.sort(key=lambda f: (f != N, self._row(f)))
        tails.sort(
            key=lambda f: (
                self._is_moment(f),
                self._addlike(f),
                not self.names.get(f, "").startswith(r"\frac{\partial f}"),
            )
        )
        if coeff.p != 1:
            numer.insert(0, sp.Integer(coeff.p))
        if coeff.q != 1:
            denom.insert(0, sp.Integer(coeff.q))
        top = self._product(numer, bare=bool(denom)) or "1"
        head = rf"\frac{{{top}}}{{{self._product(denom, bare=True)}}}" if denom else top
        texts = [self._tail(t, mean, sum(map(self._is_moment, tails))) for t in tails]
        if head == "1" and texts:
            head = ""
        joiner = r" \odot " if self.vector and self._row(sp.Mul(*numer)) and any(self._row(t) for t in tails) else " "
        return sign + joiner.join(t for t in (head, " ".join(texts)) if t)

    def _tail(self, t: sp.Expr, mean, count: int) -> str:
        if t == mean:
            return rf"\operatorname{{mean}}\left({self._bare(self.moments[t])}\right)"
        tex = self._print(t)
        if t.is_Add:
            return rf"\left({tex}\right)"
        if t in self.expand:
            return tex
        if self._is_moment(t) and count > 1 and not tex.startswith(r"\left("):
            return rf"\left({tex}\right)"
        return tex

    def _product(self, factors: list, bare: bool = False) -> str:
        """Factors side by side; ``bare``: a lone factor needs no brackets (it fills a fraction)."""
        if len(factors) == 1 and bare:
            return self._bare(factors[0])
        out = ""
        for k, f in enumerate(factors):
            tex = self._print(f)
            if len(factors) > 1 and self._needs_mul_brackets(f, first=k == 0, last=k == len(factors) - 1):
                tex = rf"\left({tex}\right)"
            rows = self.vector and k and self._row(f) and self._row(factors[k - 1])
            out += ("" if k == 0 else r" \odot " if rows else " ") + tex
        return out

    def _print_Pow(self, expr):
        if expr.base in self.moments and expr.exp.is_Integer and expr.exp > 0:
            return rf"\left({self._print(expr.base)}\right)^{{{self._print(expr.exp)}}}"
        return super()._print_Pow(expr)


class Plain(StrPrinter):
    """Plain text in the file's own syntax (x, xmu, sum(dy*xhat)): for graph labels."""

    def __init__(self, names: Mapping, moments: Mapping):
        super().__init__()
        self.names, self.moments = names, moments

    def _print_Symbol(self, expr):
        if expr in self.moments:
            return f"sum({self._print(self.moments[expr])})"
        return self.names.get(expr, expr.name)


# --- rendered width -----------------------------------------------------------------------

_ZERO = {r"\displaystyle", r"\textstyle", r"\limits", r"\nolimits"}
_DELIM = {r"\left", r"\right", r"\biggl", r"\biggr", r"\Bigl", r"\Bigr", r"\bigl", r"\bigr"}
_WRAP = {r"\hat", r"\bar", r"\tilde", r"\dot", r"\check", r"\boldsymbol", r"\mathbf", r"\mathit", r"\vec", r"\overline"}
_TEXT = {r"\mathrm", r"\text", r"\texttt", r"\operatorname", r"\textrm", r"\mathtt"}
_SPACE = {r"\quad": 2.0, r"\qquad": 4.0, r"\,": 0.3, r"\;": 0.5, r"\:": 0.4, r"\ ": 0.5, r"\!": -0.3}
_BINARY = {r"\odot", r"\cdot", r"\times", r"\neq", r"\ne", r"\leq", r"\geq", r"\to"}
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|.", re.DOTALL)


def width(tex: str) -> float:
    """Rough rendered width of display math in units of one italic letter (about 6pt at 11pt)."""
    return _Width(tex).run()


class _Width:
    def __init__(self, tex: str):
        self.tokens = _TOKEN.findall(tex)
        self.k = 0

    def run(self) -> float:
        total = 0.0
        while self.k < len(self.tokens):
            total += self.item()
        return total

    def peek(self) -> str:
        while self.k < len(self.tokens) and self.tokens[self.k] == " ":
            self.k += 1
        return self.tokens[self.k] if self.k < len(self.tokens) else ""

    def group(self) -> float:
        """The width of the next {group} or single item."""
        if self.peek() != "{":
            return self.item() if self.peek() else 0.0
        self.k += 1
        total = 0.0
        while self.k < len(self.tokens) and self.tokens[self.k] != "}":
            total += self.item()
        self.k += 1
        return total

    def text(self) -> str:
        depth, out = 0, []
        self.peek()
        while self.k < len(self.tokens):
            t = self.tokens[self.k]
            self.k += 1
            depth += (t == "{") - (t == "}")
            out.append(t)
            if depth == 0:
                break
        return "".join(out).strip("{}")

    def item(self) -> float:
        t = self.tokens[self.k]
        self.k += 1
        if t == "{":
            self.k -= 1
            return self.group()
        if t in (" ", "}", "&") or t in _ZERO:
            return 0.0
        if t in ("_", "^"):
            return 0.72 * self.group()
        if t == r"\frac":
            return max(self.group(), self.group()) + 0.8
        if t == r"\sqrt":
            return self.group() + 1.2
        if t == r"\sum":
            limits = [1.8]
            while self.peek() in ("_", "^"):
                self.k += 1
                limits.append(0.72 * self.group())
            return max(limits) + 0.3
        if t in _DELIM:
            return 0.0 if self.item_token() == "." else 1.2
        if t in _WRAP:
            return self.group()
        if t in _TEXT:
            return 0.9 * len(self.text())
        if t in _SPACE:
            return _SPACE[t]
        if t in _BINARY:
            return 2.0
        if t.startswith("\\"):
            return 1.1
        if t in "+-=<>":
            return 2.0
        if t in "(),[]|;:.'":
            return 0.6
        return 1.0

    def item_token(self) -> str:
        t = self.peek()
        self.k += 1
        return t
