"""Write the golden documents the tests compare with: one .tex and one .md per derivation file.

    python tools/goldens.py             # every file in derivations/
    python tools/goldens.py layernorm   # only these (by stem)

tests/render/test_golden.py builds each file's document and compares it, byte for byte, with
tests/render/goldens/<stem>.tex and <stem>.md.  After a change to the documents that is meant,
run this, read the diff (git diff tests/render/goldens), and commit the goldens with the change.
A new file in derivations/ needs its goldens before the test passes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import symbn
from symbn.render.content import build
from symbn.render.latex import FORMATS, written

GOLDENS = ROOT / "tests" / "render" / "goldens"


def main(stems: list[str]) -> int:
    files = sorted((ROOT / "derivations").glob("*.toml"))
    unknown = set(stems) - {f.stem for f in files}
    if unknown:
        print(f"goldens: no derivation file called {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    GOLDENS.mkdir(parents=True, exist_ok=True)
    for path in files:
        if stems and path.stem not in stems:
            continue
        doc = build(symbn.load(path))
        for fmt in FORMATS:
            out = GOLDENS / f"{path.stem}.{fmt}"
            out.write_text(written(doc, fmt), encoding="utf-8")
            print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
