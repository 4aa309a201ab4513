"""Certification: nothing is printed that is not proved.

For each differentiable input, the file's closed form and its fast form
(:mod:`.rearrange`) are both checked against reverse mode with
:func:`symbn.proof.prover.check_formula`, for every N.  Anything not ``proved``
raises :class:`NotCertified` before a line of the module is printed; the printer
then works from the *certified text*, so the module evaluates exactly the
formula that was proved.
"""

from __future__ import annotations

from symbn.emit.rearrange import fast_forms
from symbn.lang.derivation import Layer
from symbn.proof.prover import PROVED, Prover, Result, check_formula


class NotCertified(Exception):
    """A formula the emitter would print is not proved equal to reverse mode.
    ``verdict``: "refuted", "unknown", or "missing" (no closed form, or a name the
    emitted code needs), for the CLI's exit status (1, 3, 2)."""

    def __init__(self, message: str, verdict: str = "missing"):
        super().__init__(message)
        self.verdict = verdict


def certify(layer: Layer, time_limit: float | None = 60.0) -> dict[str, tuple[str, Result]]:
    """For each differentiable input: the fast form and its proof, after the closed
    form it came from has been proved too.  Raises :class:`NotCertified`."""
    missing = [w for w in layer.differentiable if w not in layer.closed_form]
    if missing:
        raise NotCertified(f"{layer.path}: no closed form for {', '.join(missing)}; the emitter prints only proved formulas")
    prover = Prover(layer)
    forms = fast_forms(layer)
    out = {}
    for wrt in layer.differentiable:
        closed = layer.closed_form[wrt]
        proof = check_formula(layer, wrt, closed, label="closed_form", time_limit=time_limit, prover=prover)
        require(layer, f"d{wrt}", closed.text, "closed form", proof)
        emitted = layer.formula(forms[wrt], f"emitted.{wrt}")
        result = check_formula(layer, wrt, emitted, label="emitted", time_limit=time_limit, prover=prover)
        out[wrt] = (forms[wrt], require(layer, f"d{wrt}", forms[wrt], "emitted formula", result))
    return out


def require(layer: Layer, of: str, text: str, what: str, result: Result) -> Result:
    """``result`` if it is proved, else :class:`NotCertified` naming the formula and why."""
    if result.verdict != PROVED:
        why = f"refuted at {result.counterexample}" if result.counterexample else result.detail or result.verdict
        message = f"{layer.path}: the {what} of {of}, {text!r}, is not proved for every N ({why}); nothing was emitted"
        raise NotCertified(message, result.verdict)
    return result


__all__ = ["NotCertified", "certify", "require"]
