r"""The document's second-order and many-devices sections: they exist where the file asks for
them, with the verdicts symbn proves, and a wrong formula is shown refuted (never as proved).

The twins change one formula of derivations/batchnorm.toml: a [second_order] closed form, an
order-2 claim, a merge of the [shards] split."""

from __future__ import annotations

import re

import pytest

import symbn
from symbn.render.content import build
from symbn.render.latex import written

from ..files import BATCHNORM

GG_CLOSED = 'gamma = "ivar*sum(dy*(ddx - mean(ddx) - xhat*mean(ddx*xhat)))"'
GG_CLAIM = 'formula = "sum(ddx*(ivar/N)*(N*dy - sum(dy) - xmu*ivar**2*sum(dy*xmu)))"'
MERGE = '"var = allreduce(Nk*(1/invstd_k**2 - eps + (mean_k - mu)**2))/allreduce(Nk)"'


def _md(text: str, sections: tuple[str, ...]) -> str:
    return written(build(symbn.loads(text, str(BATCHNORM)), sections=sections), "md")


def _rows(md: str) -> list[tuple[str, ...]]:
    """A verdict table's rows: (quantity, route, against, verdict)."""
    return re.findall(r"^\| \$(.*?)\$ \| (.*?) \| (.*?) \| (\w+) \|$", md, re.MULTILINE)


def _section(md: str, heading: str) -> str:
    """The text of one '### heading' subsection (up to the next of its level or above)."""
    start = md.index(f"### {heading}")
    end = re.search(r"\n#{2,3} ", md[start + 4:])
    return md[start:start + 4 + end.start()] if end else md[start:]


@pytest.fixture(scope="module")
def source() -> str:
    return BATCHNORM.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def second(source) -> str:
    return _md(source, ("second_order",))


# --- second order ------------------------------------------------------------------------------


def test_the_second_order_section_walks_the_backward_pass(second):
    assert second.count("## Second order") == 1
    # h, with the first-order adjoints barred and the directions dotted
    assert r"h &= \sum_{i=1}^{N} \dot{x}_{i} \bar{x}_{i} + \bar{\beta} \dot{\beta} + \dot{\gamma} \bar{\gamma}" in second
    graph = _section(second, "The backward pass as a graph")
    # the backward's stages, each written in the file's syntax (no temporaries), reading earlier stages
    for line in ("9: }\\texttt{dxhat = dy*gamma}", "\\texttt{dvar = dsqrtvar*(var + eps)**(-1/2)/2}",
                 "\\texttt{dx = dxmu + dmu/N}", "\\texttt{h = sum(ddx*dx) + ddgamma*dgamma + ddbeta*dbeta}"):
        assert line in graph
    assert "%" not in graph
    # its reverse pass, step by step from h down to the inputs, the output y (which h does not read) left out
    steps = re.findall(r"#### Step (\d+):", second)
    assert steps == [str(k) for k in range(19, 8, -1)] + [str(k) for k in range(7, -1, -1)]
    assert "#### Step 0: arriving at the inputs" in second
    assert r"\frac{\partial h}{\partial h} &= 1 && \text{incoming (the loss itself)}" in second
    assert "Not shown: $y_{j}$" in second


def test_the_second_order_verdicts_and_claims(second):
    proof = _section(second, "The proof, second order")
    assert "overall verdict **proved**" in proof
    rows = _rows(proof)
    assert len(rows) == 4 * 6 + 1 and {r[3] for r in rows} == {"proved"}
    assert ("\\ddot{y}_{j}", "forward over forward", "SymPy diff twice", "proved") in rows
    assert "closed form" in {r[2] for r in rows}
    claims = _section(second, "Claims")
    for cid in ("gI", "gG", "ggO"):
        block = claims[claims.index(f"pytorch-batchnorm-double-backward-{cid}`"):]
        assert block[:block.index("Verdict")].count("as written") == 1
        assert block[block.index("Verdict"):].startswith("Verdict: **proved**. The file expects the claim to be right: as expected.")
    frozen = claims[claims.index("frozen-statistics-gI`"):]
    assert "Verdict: **refuted**. The file expects the claim to be wrong: as expected." in frozen
    assert "The true value, by reverse over reverse:" in frozen and "| the claim |" in frozen
    assert r"| $\dot{x}_{1}, \dots, \dot{x}_{3}$ |" in frozen  # the directions are part of the counterexample


def test_a_wrong_second_order_closed_form_and_claim_are_shown_refuted(source):
    wrong = source.replace(GG_CLOSED, GG_CLOSED.replace('"ivar*sum(', '"sum(')).replace(
        GG_CLAIM, GG_CLAIM.replace("(ivar/N)", "(ivar/(N - 1))"))
    assert wrong.count("sum(dy*(ddx") == 1 and "ivar/(N - 1)" in wrong
    md = _md(wrong, ("second_order",))
    proof = _section(md, "The proof, second order")
    assert "overall verdict **refuted**" in proof
    rows = _rows(proof)
    on_gamma = {(r[1], r[2]): r[3] for r in rows if r[0] == r"\partial h / \partial \gamma"}
    assert on_gamma[("reverse over reverse", "closed form")] == "refuted"
    assert on_gamma[("SymPy diff twice", "reverse over reverse")] == "proved"
    assert {r[3] for r in rows if r[0] != r"\partial h / \partial \gamma"} == {"proved"}
    assert "Counterexample: at these values the two differ." in proof
    claim = _section(md, "Claims")
    claim = claim[claim.index("pytorch-batchnorm-double-backward-gG`"):claim.index("double-backward-ggO`")]
    assert "Verdict: **refuted**. The file expects the claim to be right: **not** as expected." in claim
    assert "| the claim |" in claim


# --- many devices --------------------------------------------------------------------------------


def test_the_many_devices_section(source):
    md = _md(source, ("shards",))
    assert md.count("## Many devices") == 1
    assert r"\mathrm{mean}_k &= \frac{1}{N_k} \sum_{i \in k} x_{i} && \text{as written}" in md
    assert r"\sum_{k=1}^{K} N_k" in md
    for k in (2, 3):
        table = _section(md, f"{k} devices")
        sizes = ", ".join(f"N_{m}" for m in range(1, k + 1))
        assert f"for every ${sizes}$: overall verdict **proved**" in table
        rows = _rows(table)
        assert [r[0] for r in rows] == ["\\mu", "v", "y_{j}", "\\partial f / \\partial x_{j}",
                                        "\\partial f / \\partial \\gamma", "\\partial f / \\partial \\beta"]
        assert {r[3] for r in rows} == {"proved"}
    claim = md[md.index("#### Claim `syncbn-elemt-local-count`"):]
    assert "**refuted**. The file expects the claim to be wrong: as expected." in claim
    sizes = dict(re.findall(r"^\| device (\d): \$N_\{\d\}\$ \| \$(\d+)\$ \|$", claim, re.MULTILINE))
    assert set(sizes) == {"1", "2"} and len(set(sizes.values())) == 2  # shards of different sizes
    for device in ("1", "2"):
        assert re.search(rf"^\| device {device}: \$x_{{i}}\$ \| ", claim, re.MULTILINE)


def test_a_wrong_merge_is_shown_refuted(source):
    """Chan's merge without the spread of the devices' means: right only when they agree."""
    wrong = source.replace(MERGE, MERGE.replace(" + (mean_k - mu)**2", ""))
    assert wrong != source
    md = _md(wrong, ("shards",))
    table = _section(md, "2 devices")
    assert "overall verdict **refuted**" in table
    rows = {r[0]: r[3] for r in _rows(table)}
    assert rows["v"] == "refuted" and rows["\\mu"] == "proved"


def test_files_without_them_have_neither_section():
    layer = symbn.loads(BATCHNORM.read_text(encoding="utf-8").split("# --- second order")[0], str(BATCHNORM))
    md = written(build(layer, sections=("second_order", "shards")), "md")
    assert "Second order" not in md and "Many devices" not in md
