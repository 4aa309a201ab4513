"""Where the tests find the derivation files and the seeds."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(ROOT.glob("derivations/*.toml"))
BATCHNORM = ROOT / "derivations" / "batchnorm.toml"
SEEDS = ROOT.parent / "shared" / "seeds"
