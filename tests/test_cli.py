"""The command line: exit codes, JSON, and bad input as one line without a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from symbn.cli import main

ROOT = Path(__file__).parent.parent
BN = str(ROOT / "derivations" / "batchnorm.toml")


def run(*args, cwd=ROOT):
    p = subprocess.run([sys.executable, "-m", "symbn", *args], check=False, capture_output=True, text=True, cwd=cwd, timeout=300)
    return p.returncode, p.stdout, p.stderr


def test_prove_table_and_exit_0():
    code, out, err = run("prove", BN)
    assert code == 0, err
    assert "batchnorm (every N): 18/18 proved" in out and "verdict: proved" in out


def test_prove_json_contract(capsys):
    assert main(["prove", BN, "--json", "--n", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layer"] == "batchnorm" and data["n"] == 3
    r = data["results"][0]
    assert set(r) == {"wrt", "route", "against", "verdict", "counterexample", "seconds", "first_wrong"}
    assert r["first_wrong"] is None
    assert {x["route"] for x in data["results"]} | {x["against"] for x in data["results"]} == {"direct", "forward", "reverse", "closed_form"}


def test_refuted_exits_1(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(BN).read_text().replace('x     = "gamma*ivar*', 'x     = "2*gamma*ivar*'))
    code, out, _ = run("prove", str(bad))
    assert code == 1 and "refuted at N=" in out


def test_unknown_exits_3():
    code, out, _ = run("prove", BN, "--time-limit", "0.000001")
    assert code == 3 and "time limit" in out


def test_check_one_formula(capsys):
    assert main(["check", BN, "--wrt", "gamma", "--formula", "sum(dy*xhat)"]) == 0
    assert main(["check", BN, "--wrt", "gamma", "--formula", "sum(dy*xmu)"]) == 1
    out = capsys.readouterr().out
    assert "proved" in out and "refuted" in out and "counterexample: N=" in out


@pytest.mark.parametrize(
    "args, problem",
    [
        (["prove", "nope.toml"], "nope.toml: no such file"),
        (["check", BN, "--wrt", "x", "--formula", "x.__class__"], "--formula: attribute access"),
        (["check", BN, "--wrt", "x", "--formula", "__import__('os').system('echo hacked')"], "--formula:"),
        (["check", BN, "--wrt", "zeta", "--formula", "dy"], "--wrt: 'zeta' is neither"),
        (["check", BN, "--wrt", "gamma", "--formula", "dy*xhat"], "reduce it with sum"),
        (["check", BN, "--formula", "dy"], "--wrt NAME is needed"),
        (["check", BN, "--wrt", "x", "--latex", r"\frac{1}{\foo}"], "--latex:"),
        (["prove", BN, "--n", "0"], "expected N >= 1"),
        (["prove", BN, "--n", "three"], "expected a whole number"),
        (["prove", BN, "--time-limit", "-1"], "expected a finite number of seconds >= 0"),
        (["check", BN, "--time-limit", "nan"], "expected a finite number of seconds >= 0"),
        (["emit", BN, "--time-limit", "inf"], "expected a finite number of seconds >= 0"),
        (["prove", BN, "--time-limit", "soon"], "expected a number of seconds"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, problem):
    code, out, err = run(*args)
    assert code == 2
    assert problem in err
    assert "Traceback" not in err and "hacked" not in out  # quoted in the message, never run


def test_bad_file_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(BN).read_text().replace('"ivar = 1/sqrtvar"', '"ivar = 1/sqrtvr"'))
    code, _, err = run("prove", str(bad))
    assert code == 2 and "bad.toml: layer.stages[5]: unknown name 'sqrtvr'" in err and "Traceback" not in err


def test_latex_and_graph_commands(tmp_path):
    code, out, _ = run("latex", BN, "--format", "md")
    assert code == 0 and out.startswith("# Batch normalization") and "$$" in out
    code, _, err = run("latex", BN, "-o", str(tmp_path / "bn.tex"))
    assert code == 0 and (tmp_path / "bn.tex").read_text().startswith("\\documentclass")
    code, out, _ = run("graph", BN)
    assert code == 0 and out.startswith('digraph "batchnorm"')
    code, _, err = run("graph", BN, "-o", str(tmp_path / "bn.xyz"))
    assert code == 2 and "unknown graph format" in err and "Traceback" not in err


def test_emit_and_check_numeric_commands(tmp_path):
    code, out, _ = run("emit", BN)
    assert code == 0 and out.startswith('"""Batch normalization') and "def backward(dy, x, gamma, beta, *, eps=1e-05" in out
    code, out, _ = run("check-numeric", BN, "--shape", "5,3")
    assert code == 0 and "verdict: all within tolerance" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(BN).read_text().replace('gamma = "sum(dy*xhat)"', 'gamma = "sum(dy*xmu)"'))
    code, out, err = run("emit", str(bad))
    assert code == 1 and "not emitted" in err and out == ""
    code, _, err = run("check-numeric", BN, "--axis", "7")
    assert code == 2 and "Traceback" not in err


def test_check_claims_exit_codes_and_json(tmp_path):
    code, out, _ = run("check", BN, "--json")
    data = json.loads(out)
    assert code == 0 and data["n"] == "all"
    ids = [r["id"] for r in data["results"]]
    assert "seed-001-dmu" in ids and "seed-001-dmu (LaTeX)" in ids
    assert all(r["agrees"] for r in data["results"])
    # a claim whose verdict differs from its expect: exit 1
    flipped = tmp_path / "flipped.toml"
    text = Path(BN).read_text()
    flipped.write_text(text.replace('formula = "-1/sqrtvar*sum(dxhat) - 2*dvar*sum(x - mu)/N"\nexpect  = "correct"', 'formula = "-1/sqrtvar*sum(dxhat) - 2*dvar*sum(x - mu)/N"\nexpect  = "wrong"'))
    assert flipped.read_text() != text
    code, out, _ = run("check", str(flipped))
    assert code == 1 and "(EXPECTED WRONG)" in out


AFFINE = """
[layer]
name = "affine"
stages = ["y = gamma*x + beta"]
output = "y"
[inputs]
x     = { kind = "row" }
gamma = { kind = "scalar" }
beta  = { kind = "scalar" }
[closed_form]
x     = "gamma*dy"
gamma = "sum(dy*x)"
beta  = "sum(dy)"
"""

SOFTMAX = """
[layer]
name = "softmax"
stages = ["e = exp(x)", "z = sum(e)", "y = e/z"]
output = "y"
[inputs]
x = { kind = "row" }
[closed_form]
x = "y*(dy - sum(dy*y))"
"""


@pytest.mark.parametrize("text", [AFFINE, SOFTMAX, Path(BN).read_text().replace(", default = 1e-5 }", " }")],
                         ids=["no statistics", "one gradient", "a constant without default"])
def test_emit_and_check_numeric_on_unusual_layers(tmp_path, text):
    """A layer whose gradients read no per-slice statistic, one with a single
    gradient (backward returns a 1-tuple), one whose constant has no default."""
    path = tmp_path / "layer.toml"
    path.write_text(text)
    module_path = tmp_path / "layer_np.py"
    code, _, err = run("emit", str(path), "-o", str(module_path))
    assert code == 0, err
    compile(module_path.read_text(), str(module_path), "exec")
    code, out, err = run("check-numeric", str(path), "--shape", "5,3")
    assert code == 0 and "verdict: all within tolerance" in out, out + err
    assert ("eps = 0.5 (the file gives no default)" in out) == ("epsilon" in text)


def test_check_without_claims_says_so(tmp_path):
    code, out, _ = run("check", "derivations/rmsnorm.toml")
    assert code == 0 and out.strip() == "rmsnorm (every N): no claims in this file; give one with --wrt NAME --formula EXPR"


def test_latex_and_graph_with_a_constant_stage(tmp_path):
    """e2 = 2*eps is no gradient target, but the document and the graph still show
    every stage's adjoint (found by review: KeyError 'de2')."""
    path = tmp_path / "e2.toml"
    path.write_text(Path(BN).read_text().split("[notation]")[0].replace(
        '"sqrtvar = sqrt(var + eps)",', '"e2 = 2*eps", "sqrtvar = sqrt(var + e2)",'))
    for command in ("latex", "graph"):
        code, out, err = run(command, str(path))
        assert code == 0 and out and "Traceback" not in err, err
