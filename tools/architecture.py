"""The package's shape: one line per module, its import graph, and the rules it keeps.

    python tools/architecture.py          # the layout, then any rule broken (exit 1)

Rules: no import cycle between modules, function-level imports included; the core
(lang, ir, ad, realise, proof) never imports render or emit; no module over 450
lines.  tests/test_architecture.py runs the same checks.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "symbn"
CORE = ("symbn.lang", "symbn.ir", "symbn.ad", "symbn.realise", "symbn.proof")
OUTER = ("symbn.render", "symbn.emit")
MAX_LINES = 450


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its text (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def problems() -> list[str]:
    mods = modules()
    graph = {n: imports(n, p, set(mods)) for n, p in mods.items()}
    found = [f"import cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    for name, targets in graph.items():
        if name.startswith(CORE):
            found += [f"{name} imports {t}: the core never imports render or emit" for t in targets if t.startswith(OUTER)]
    for name, path in mods.items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            found.append(f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})")
    return found


def layout() -> list[str]:
    rows = []
    for path in modules().values():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        lines = len(path.read_text(encoding="utf-8").splitlines())
        rows.append(f"{path.relative_to(ROOT)!s:<34} {lines:>4}  {doc.splitlines()[0] if doc else ''}")
    return rows


if __name__ == "__main__":
    print("\n".join(layout()))
    issues = problems()
    print("\n".join(issues) if issues else "no import cycle; the core imports neither render nor emit; "
          f"no module over {MAX_LINES} lines")
    sys.exit(1 if issues else 0)
