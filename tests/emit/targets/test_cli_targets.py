"""``symbn emit --target`` and ``symbn check-numeric --target`` from the command line (new processes)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from ...files import ROOT
from .conftest import installed

BN = str(ROOT / "derivations" / "batchnorm.toml")
IMPORTS = {"numpy": {"numpy"}, "numba": {"functools", "numba", "numpy"}, "torch": {"torch"},
           "jax": {"functools", "jax", "jax.numpy"}}


def run(*args):
    p = subprocess.run([sys.executable, "-m", "symbn", *args], check=False, capture_output=True, text=True, cwd=ROOT,
                       timeout=600)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("target", sorted(IMPORTS))
def test_emit_writes_the_targets_module(tmp_path, target):
    suffix = "np" if target == "numpy" else target
    code, _, err = run("emit", BN, "--target", target, "-o", str(tmp_path))  # a folder: the name to give is the target's
    assert code == 2 and err.strip().endswith(f"-o {tmp_path / f'batchnorm_{suffix}.py'}"), err
    code, _, err = run("emit", BN, "--target", target, "-o", str(tmp_path / f"batchnorm_{suffix}.py"))
    assert code == 0, err
    tree = ast.parse((tmp_path / f"batchnorm_{suffix}.py").read_text())
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert imported == IMPORTS[target]  # emitting needs none of the libraries: only importing the module does


@pytest.mark.parametrize("target", ["torch", "jax"])
def test_check_numeric_checks_the_targets_own_gradients(target):
    if not installed(target):
        pytest.skip(f"{target} is not installed (pip install 'symbn[{target}]')")
    code, out, err = run("check-numeric", BN, "--target", target)
    assert code == 0, out + err
    assert "complex step (float64)" in out and out.rstrip().endswith("verdict: all within tolerance")


def test_a_target_whose_library_is_missing_is_one_line_naming_the_extra(tmp_path):
    """A site directory where the library is a module that cannot be found: what a user without it sees."""
    (tmp_path / "sitecustomize.py").write_text(
        "import importlib.util\n_find = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'numba' else _find(name, *a)\n")
    p = subprocess.run([sys.executable, "-m", "symbn", "check-numeric", BN, "--target", "numba"], check=False,
                       capture_output=True, text=True, cwd=ROOT, timeout=600,
                       env={**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}"})
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == "symbn: the numba target needs numba: pip install 'symbn[numba]'"
