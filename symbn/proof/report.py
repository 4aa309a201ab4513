"""What the prover says: one result per obligation, and the tables and JSON that show them.

A :class:`Result` is one obligation's verdict (``proved``, ``refuted`` with a
counterexample, ``unknown`` with the reason) and its own time.  A :class:`Proof`
holds the results of ``symbn prove``; a :class:`Report` those of ``symbn check``,
each claim with what its author meant.  Their ``to_json`` is the JSON contract of
DESIGN.md; ``table`` is what the command prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from symbn.proof.counterexample import Counterexample

PROVED, REFUTED, UNKNOWN = "proved", "refuted", "unknown"
EXIT = {PROVED: 0, REFUTED: 1, UNKNOWN: 3}
AGREES = {"correct": PROVED, "wrong": REFUTED}
WHOLE = "the whole gradient"  # the term of a Change that says the claim is a multiple of the truth


def size_words(n: int | None) -> str:
    return "every N" if n is None else f"N = {n}"


@dataclass(frozen=True)
class Change:
    """One basis term whose coefficient differs: claim's, truth's, and what that means."""

    term: str
    claim: str
    truth: str
    reading: str

    def to_json(self) -> dict:
        return {"term": self.term, "claim": self.claim, "truth": self.truth, "reading": self.reading}


MAX_TEXT = 400  # characters of a difference typeset in a document (the terminal and JSON show it whole)


@dataclass(frozen=True)
class Difference:
    """claim − truth in the layer's own terms (``text`` is a formula in symbn's syntax).
    ``checked``: the claim minus ``text`` was proved equal to the truth."""

    text: str
    changes: tuple[Change, ...] = ()
    summary: str = ""
    checked: bool = False

    @property
    def readable(self) -> bool:
        """Short enough to typeset in a document (eps outside an unbiased root gives a thousand characters;
        the terminal and JSON show it whole)."""
        return len(self.text) <= MAX_TEXT

    def to_json(self) -> dict:
        return {"formula": self.text, "terms": [c.to_json() for c in self.changes], "summary": self.summary,
                "checked": self.checked}

    def __str__(self) -> str:
        return f"claim - truth = {self.text}" + (f": {self.summary}" if self.summary else "")


@dataclass(frozen=True)
class FirstWrong:
    """The first line of code whose value is wrong, what it should be and what it is."""

    line: int
    name: str
    expected: str
    got: str

    def to_json(self) -> dict:
        return {"line": self.line, "name": self.name, "expected": self.expected, "got": self.got}

    def __str__(self) -> str:
        return f"line {self.line} ({self.name}): expected {self.expected}, got {self.got}"


@dataclass(frozen=True)
class LineCheck:
    """An intermediate of the code matched to a quantity of the true derivation."""

    line: int
    name: str
    quantity: str  # what it is matched to, e.g. "d f/d var"
    how: str  # "name", "bind" or "value"
    verdict: str  # "right", "wrong" or "unsure"

    def to_json(self) -> dict:
        return {"line": self.line, "name": self.name, "quantity": self.quantity, "matched_by": self.how,
                "verdict": self.verdict}

    def __str__(self) -> str:
        return f"line {self.line} {self.name}: {self.quantity} (by {self.how}): {self.verdict}"


@dataclass(frozen=True)
class Result:
    wrt: str
    route: str
    against: str
    verdict: str
    counterexample: Counterexample | None = None
    seconds: float = 0.0
    detail: str = ""  # why unknown
    tried: bool = True  # False: not run, because an obligation before it ran out of time
    difference: Difference | None = None  # for a refuted formula: claim − truth
    first_wrong: FirstWrong | None = None  # for refuted code: where it goes wrong
    lines: tuple[LineCheck, ...] = ()  # for refuted code: every intermediate matched
    notes: tuple[str, ...] = ()  # what a reader of the verdict needs (a sum over other slices ...)

    def to_json(self) -> dict:
        out = {
            "wrt": self.wrt,
            "route": self.route,
            "against": self.against,
            "verdict": self.verdict,
            "counterexample": self.counterexample.to_json() if self.counterexample else None,
            "seconds": round(self.seconds, 4),
            "first_wrong": self.first_wrong.to_json() if self.first_wrong else None,
        }
        if self.verdict == REFUTED:
            out["difference"] = self.difference.to_json() if self.difference else None
        if self.verdict == UNKNOWN:  # what the text report says: why it is not decided
            out["reason"] = self.detail or None
        if self.lines:
            out["intermediates"] = [c.to_json() for c in self.lines]
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def explanation(self, indent: str = "    ") -> list[str]:
        """The lines that say where and how a refuted result goes wrong."""
        out = [f"{indent}note: {n}" for n in self.notes]
        if self.first_wrong is not None:
            out.append(f"{indent}first wrong line: {self.first_wrong}")
        if self.difference is not None:
            checked = "" if self.difference.checked else " (not proved)"
            out.append(f"{indent}claim - truth = {self.difference.text}{checked}")
            whole = [c for c in self.difference.changes if c.term == WHOLE]
            out += [f"{indent}  {c.reading}" for c in (whole or self.difference.changes)]
        if self.lines:
            out.append(f"{indent}intermediates:")
            out += [f"{indent}  {c}" for c in self.lines]
        return out


@dataclass
class Proof:
    """All results of one ``prove`` (or ``check``) run."""

    layer: str
    n: int | None
    results: list[Result] = field(default_factory=list)
    order: int = 1
    shards: int = 0  # a split across devices: their number

    @property
    def verdict(self) -> str:
        verdicts = {r.verdict for r in self.results}
        return REFUTED if REFUTED in verdicts else UNKNOWN if UNKNOWN in verdicts else PROVED

    @property
    def exit_code(self) -> int:
        return EXIT[self.verdict]

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    def to_json(self) -> dict:
        out = {"layer": self.layer, "n": "all" if self.n is None else self.n, "results": [r.to_json() for r in self.results]}
        out.update({"order": self.order} if self.order != 1 else {})
        return out if not self.shards else {**out, "shards": self.shards}

    def table(self) -> str:
        rows = [("wrt", "route", "against", "verdict", "seconds")]
        rows += [(r.wrt, r.route, r.against, r.verdict, f"{r.seconds:.3f}" if r.tried else "-") for r in self.results]
        widths = [max(len(row[k]) for row in rows) for k in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        why: dict[str, list[Result]] = {}
        for r in self.results:
            if r.counterexample is not None:
                lines.append(f"{r.wrt}: {r.route} vs {r.against} refuted at {r.counterexample}")
                lines += r.explanation("    ")
            elif r.detail and r.tried:
                why.setdefault(r.detail, []).append(r)
        for detail, same in why.items():  # one line per reason, not one per obligation
            first = f"{same[0].wrt}: {same[0].route} vs {same[0].against}"
            more = f" and {len(same) - 1} more" if len(same) > 1 else ""
            lines.append(f"{first}{more} unknown: {detail}")
        untried = [r for r in self.results if not r.tried]
        if untried:
            lines.append(f"{len(untried)} more obligation{'s' if len(untried) > 1 else ''} not tried: {untried[0].detail}")
        size = size_words(self.n) + (", second order: h = Σ_k <dd_k, ∂f/∂k>, wrt: ∂h/∂wrt" if self.order == 2 else "")
        size += f", split across {self.shards} devices of any sizes N_1 … N_{self.shards}" if self.shards else ""
        summary = f"{self.layer} ({size}): {sum(r.verdict == PROVED for r in self.results)}/{len(self.results)} proved"
        return "\n".join([*lines, summary, f"verdict: {self.verdict}"])


@dataclass(frozen=True)
class Checked:
    id: str
    result: Result
    expect: str | None = None  # None for a one-off formula
    note: str = ""
    order: int = 1  # 2: the claim is for ∂h/∂wrt of the second-order problem

    @property
    def agrees(self) -> bool | None:
        return None if self.expect is None else AGREES[self.expect] == self.result.verdict

    def to_json(self) -> dict:
        out = {"id": self.id, **self.result.to_json(), **({"order": self.order} if self.order != 1 else {})}
        if self.expect is not None:
            out.update(expect=self.expect, agrees=self.agrees)
        return out


@dataclass
class Report:
    layer: str
    n: int | None
    items: list[Checked] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        verdicts = [c.result.verdict for c in self.items]
        if any(c.agrees is False and c.result.verdict != UNKNOWN for c in self.items):
            return 1
        if any(c.expect is None and v == REFUTED for c, v in zip(self.items, verdicts)):
            return 1
        return EXIT[UNKNOWN] if UNKNOWN in verdicts else 0

    def to_json(self) -> dict:
        return {"layer": self.layer, "n": "all" if self.n is None else self.n, "results": [c.to_json() for c in self.items]}

    def table(self) -> str:
        lines = []
        for c in self.items:
            r = c.result
            mark = "" if c.agrees is None else "  (as expected)" if c.agrees else f"  (EXPECTED {c.expect.upper()})"
            quantity = "d f" if c.order == 1 else "d h"
            lines.append(f"{c.id}: {quantity}/d {r.wrt}: {r.verdict}{mark}  [{r.seconds:.3f} s]" if r.tried
                         else f"{c.id}: {quantity}/d {r.wrt}: {r.verdict}{mark}  [not tried]")
            if r.counterexample is not None:
                lines.append(f"    counterexample: {r.counterexample}")
                lines.append("    (lhs: the true gradient by reverse mode; rhs: the claim)")
            if r.detail:
                lines.append(f"    {r.detail}")
            lines += r.explanation()
            if c.note and c.agrees is not None:
                lines.append(f"    note: {plain(c.note)}")
        size = size_words(self.n)
        if not self.items:
            return f"{self.layer} ({size}): no claims in this file; give one with --wrt NAME --formula EXPR"
        claims = [c for c in self.items if c.expect is not None]
        if claims:
            agree = sum(bool(c.agrees) for c in claims)
            lines.append(f"{self.layer} ({size}): {agree}/{len(claims)} verdicts as expected")
        else:
            lines.append(f"{self.layer} ({size}): " + ", ".join(c.result.verdict for c in self.items))
        return "\n".join(lines)


_SYMBOLS = {"mu": "μ", "sigma": "σ", "gamma": "γ", "beta": "β", "epsilon": "ε", "partial": "∂", "sum": "Σ",
            "cdot": "·", "times": "×", "to": "→", "dots": "…", "left": "", "right": ""}


def plain(text: str) -> str:
    """A note's inline math ($...$, for the document) as plain text for the terminal:
    ``$\\partial \\hat{x}/\\partial x$ is $1/\\sigma$`` -> ``∂x̂/∂x is 1/σ``."""

    def math(m: re.Match) -> str:
        s = re.sub(r"([_^])\{([^{}]*)\}", r"\1\2", m.group(1))
        for _ in range(3):
            s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", s)
        s = re.sub(r"\\sqrt\{([^{}]*)\}", r"√(\1)", s)
        s = re.sub(r"\\hat\{(\w)\}", "\\1\u0302", s)
        s = re.sub(r"\\([A-Za-z]+)(?: (?=[A-Za-z\\]))?", lambda g: _SYMBOLS.get(g.group(1), g.group(1)), s)
        s = s.replace("{", "").replace("}", "")
        s = re.sub(r"\(([^()\s+-]+)\)/", r"\1/", s)
        return re.sub(r"/\(([^()\s+-]+)\)", r"/\1", s)

    return re.sub(r"\$([^$]*)\$", math, text)


__all__ = ["AGREES", "EXIT", "PROVED", "REFUTED", "UNKNOWN", "Change", "Checked", "Difference", "FirstWrong", "LineCheck",
           "Proof", "Report", "Result", "plain", "size_words"]
