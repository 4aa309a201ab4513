"""The command line: exit codes, JSON, and bad input as one line without a traceback."""

import json
import re
import shutil
import subprocess
import sys
import time
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


def test_an_unknown_says_why_in_json(capsys):
    """The reason the text report prints is in the JSON too; proved and refuted results have no reason key."""
    assert main(["prove", BN, "--json", "--time-limit", "0.000001"]) == 3
    results = json.loads(capsys.readouterr().out)["results"]
    assert results and all(r["verdict"] == "unknown" and "time limit" in r["reason"] for r in results)
    assert main(["check", BN, "--wrt", "gamma", "--formula", "sum(dy*xmu)", "--json"]) == 1
    (r,) = json.loads(capsys.readouterr().out)["results"]
    assert r["verdict"] == "refuted" and "reason" not in r


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
    assert "def double_backward(ddx, ddgamma, ddbeta, dy, x, gamma, beta, *, eps=1e-05, axis=0, saved=None" in out
    code, out, _ = run("check-numeric", BN, "--shape", "5,3")
    assert code == 0 and "verdict: all within tolerance" in out
    assert re.search(r"complex step of backward \(float64\) dy +\d\.\d\de-\d\d +1e-12", out)
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
    assert "seed-001-dmu" in ids and "seed-001-dmu (LaTeX)" in ids and "seed-003-code" in ids
    assert all(r["agrees"] for r in data["results"])
    # a claim whose verdict differs from its expect: exit 1 (the code claims' files copied beside it)
    shutil.copytree(ROOT / "derivations" / "claims", tmp_path / "claims")
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


# --- messages: one line, exit 2, no traceback --------------------------------------------------------


def _one_line(code, err):
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize("command, suffix", [("latex", ".tex"), ("graph", ".svg"), ("emit", ".py")])
def test_output_to_a_missing_folder_is_one_line_exit_2(tmp_path, command, suffix):
    target = tmp_path / "no" / "such" / f"out{suffix}"
    line = _one_line(*run(command, BN, "-o", str(target))[::2])
    assert line == f"symbn: -o {target}: the folder {target.parent} does not exist; create it first, or write elsewhere"
    assert not target.parent.exists()


@pytest.mark.parametrize("command, example", [("latex", "batchnorm.tex"), ("graph", "batchnorm.svg"),
                                              ("emit", "batchnorm_np.py")])
@pytest.mark.parametrize("slash", ["", "/"])
def test_output_to_a_folder_is_one_line_exit_2(tmp_path, command, example, slash):
    line = _one_line(*run(command, BN, "-o", f"{tmp_path}{slash}")[::2])
    assert line == f"symbn: -o {tmp_path}{slash}: that is a folder; name a file in it, e.g. -o {tmp_path / example}"


def test_output_that_cannot_be_written_is_one_line_exit_2(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a folder")
    line = _one_line(*run("latex", BN, "-o", str(blocked / "x.tex"))[::2])
    assert line.startswith(f"symbn: -o {blocked / 'x.tex'}: ")


def test_version():
    from symbn import __version__

    code, out, err = run("--version")
    assert code == 0 and out.strip() == f"symbn {__version__}" and not err


def test_latex_timings_only_when_asked(tmp_path):
    code, out, _ = run("latex", "derivations/rmsnorm.toml", "--format", "md")
    assert code == 0 and " s |" not in out
    code, out, _ = run("latex", "derivations/rmsnorm.toml", "--format", "md", "--timings")
    assert code == 0 and " s |" in out


@pytest.mark.parametrize("command", ["prove", "check"])
def test_n_beyond_what_explicit_symbols_handle_is_one_line_exit_2(command):
    line = _one_line(*run(command, BN, "--n", "1001")[::2])
    assert line.startswith("symbn: --n 1001: symbn proves with explicit symbols up to N = 1000")
    assert "without --n the proof holds for every N at once" in line


UNBIASED = Path(BN).read_text().replace('"var = mean(sq)"', '"var = sum(sq)/(N - 1)"').split("[closed_form]")[0]


def test_at_n_1_a_layer_that_divides_by_zero_says_so(tmp_path):
    """At N = 1 an unbiased variance is 0/0: the reason, once, not 'the normal forms differ'."""
    path = tmp_path / "unbiased.toml"
    path.write_text(UNBIASED)
    code, out, err = run("prove", str(path), "--n", "1")
    assert code == 3 and "Traceback" not in err
    reasons = [line for line in out.splitlines() if "unknown:" in line]
    assert reasons == [("x: direct vs forward and 7 more unknown: at N = 1 the stage var = sum(sq)/(N - 1) divides by "
                       "zero for every input, so the layer has no value there and nothing can be proved or refuted")]
    assert "normal forms" not in out


def test_at_n_1_a_formula_that_is_0_over_0_says_so():
    code, out, _ = run("check", BN, "--n", "1", "--wrt", "beta", "--formula", "sum(dy)*(N-1)/(N-1)")
    assert code == 3
    assert "the formula divides by zero for every input at N = 1 (0/0): there is no value to compare" in out
    assert "counterexample" not in out and "normal forms" not in out


def test_the_time_limit_at_a_large_n_stops_with_a_clear_message():
    """Issue 15: --n 500 ran 17 minutes. Now the first obligation out of time ends the run, and says why."""
    started = time.perf_counter()
    code, out, err = run("prove", BN, "--n", "400", "--time-limit", "1")
    assert code == 3 and "Traceback" not in err
    assert time.perf_counter() - started < 30
    assert re.search(r"x: direct vs forward unknown: time limit of 1 s reached on (this obligation|building the "
                     r"problem) at N = 400: explicit symbols at this N take longer than that; try a smaller --n, a "
                     r"longer --time-limit, or no --n", out), out
    assert "17 more obligations not tried: an obligation before them ran out of the time limit of 1 s at N = 400" in out
    assert out.count("  -\n") == 17  # the seconds column of an obligation not tried


@pytest.mark.parametrize("command", ["latex", "graph"])
def test_a_value_that_cannot_be_checked_is_one_line_exit_3(monkeypatch, capsys, command):
    """A document or picture never prints a value the prover could not check; the command says which, in a line."""
    from symbn.render import dot, latex
    from symbn.render.algebra import RenderError

    def undecided(*args, **kwargs):
        raise RenderError("bn.toml: d sigma/d x_j could not be checked equal to the engine's value, so it is not shown")

    monkeypatch.setattr(latex, "document", undecided)
    monkeypatch.setattr(dot, "dot", undecided)
    assert main([command, BN]) == 3
    err = capsys.readouterr().err
    assert err == "symbn: bn.toml: d sigma/d x_j could not be checked equal to the engine's value, so it is not shown\n"


# --- code as a claim ------------------------------------------------------------------------------

SEED003 = "derivations/claims/seed003_backward.py:batchnorm_backward"
SEED003_BIND = "dout=dy,x_norm=xhat,stddev=sqrtvar,dev_from_mean=xmu,inverted_stddev=ivar,mean=mu,axis=0,dev_from_mean_sq=sq"


def test_check_code_proved_and_a_mutant_located(tmp_path):
    code, out, err = run("check", BN, "--code", SEED003, "--bind", SEED003_BIND)
    assert code == 0, err
    assert out.splitlines()[0].startswith("batchnorm_backward: d f/d x: proved")
    mutant = tmp_path / "mutant.py"
    mutant.write_text((ROOT / SEED003.split(":")[0]).read_text().replace("1/N * np.ones((N,D)) * dvar",
                                                                          "1/(N-1) * np.ones((N,D)) * dvar"))
    code, out, err = run("check", BN, "--code", f"{mutant}:batchnorm_backward", "--bind", SEED003_BIND)
    assert code == 1, err
    assert "first wrong line: line 40 (ddev_from_mean_sq): expected -gamma*ivar**2/2*mean(dy*xhat)" in out
    assert "claim - truth = -gamma*ivar/(N - 1)*xhat*mean(dy*xhat)" in out
    code, out, _ = run("check", BN, "--code", f"{mutant}:batchnorm_backward", "--bind", SEED003_BIND, "--json")
    x = json.loads(out)["results"][0]
    assert x["first_wrong"] == {"line": 40, "name": "ddev_from_mean_sq", "expected": "-gamma*ivar**2/2*mean(dy*xhat)",
                                "got": "-gamma*ivar**2/(2*N - 2)*sum(dy*xhat)"}
    assert x["difference"]["formula"] == "-gamma*ivar/(N - 1)*xhat*mean(dy*xhat)" and x["difference"]["checked"]
    assert {"line": 40, "name": "ddev_from_mean_sq", "quantity": "d f/d sq", "matched_by": "name",
            "verdict": "wrong"} in x["intermediates"]


@pytest.mark.parametrize("args, problem", [
    (["--code", "derivations/claims/seed003_backward.py:batchnorm_backward"],
     "seed003_backward.py:19:12: 'dout' is a parameter that is not a quantity of the layer"),
    (["--code", "derivations/claims/seed003_backward.py:nope"], "no function 'nope' at the top level"),
    (["--code", "derivations/claims/seed003_backward.py:batchnorm_backward", "--bind", "dout"], "write NAME=TARGET"),
    (["--bind", "dout=dy"], "--bind, --returns and --axis go with --code"),
    (["--code", SEED003, "--bind", SEED003_BIND, "--returns", "x"], "returns 3 value(s), and --returns says 1"),
])
def test_check_code_bad_input_is_one_line_exit_2(args, problem):
    code, _, err = run("check", BN, *args)
    assert code == 2 and problem in err and "Traceback" not in err, err


def test_a_statistic_over_the_wrong_axis_is_the_error_a_user_must_see(tmp_path):
    path = tmp_path / "rms.py"
    path.write_text("import numpy as np\n\ndef rmsnorm_backward(dout, x, gamma, irms):\n    xhat = x * irms\n"
                    "    g = dout * gamma\n    c = np.mean(g * xhat, axis=0, keepdims=True)\n"
                    "    dx = irms * (g - xhat * c)\n    return dx, np.sum(dout * xhat, axis=0)\n")
    code, _, err = run("check", "derivations/rmsnorm.toml", "--code", f"{path}:rmsnorm_backward", "--bind", "dout=dy",
                       "--axis", "-1")
    assert code == 2 and "rms.py:7:22: line 6 reduces over axis 0, but the slice is axis 1" in err, err
    path.write_text(path.read_text().replace("axis=0, keepdims", "axis=-1, keepdims"))
    code, out, err = run("check", "derivations/rmsnorm.toml", "--code", f"{path}:rmsnorm_backward", "--bind", "dout=dy",
                         "--axis", "-1")
    assert code == 0, out + err


def test_a_file_copied_without_its_code_is_still_proved_and_checked_with_a_clear_error(tmp_path):
    copy = tmp_path / "bn.toml"
    copy.write_text(Path(BN).read_text())
    code, out, _ = run("prove", str(copy))
    assert code == 0 and "verdict: proved" in out
    code, _, err = run("check", str(copy))
    assert code == 2 and "bn.toml: claims.seed-003-code.code: claims/seed003_backward.py: no such file" in err
