"""Where the tests find the derivation files and the seeds, and inline layers more than one test file uses."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(ROOT.glob("derivations/*.toml"))
BATCHNORM = ROOT / "derivations" / "batchnorm.toml"
SEEDS = ROOT.parent / "shared" / "seeds"

# g is declared positive, so sqrt(g**2) is g: used for counterexamples and for check-numeric
POSITIVE_SCALAR = """
[layer]
name = "pos"
stages = ["a = sqrt(g**2)", "y = a*x + h"]
output = "y"
[inputs]
h = { kind = "scalar" }
g = { kind = "scalar", positive = true }
x = { kind = "row" }
[closed_form]
x = "a*dy"
g = "sum(dy*x)"
h = "sum(dy)"
"""
