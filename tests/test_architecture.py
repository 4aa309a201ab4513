"""The package keeps its shape: no import cycle, the core free of render and emit, small modules."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("architecture", ROOT / "tools" / "architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_cycle_no_core_to_render_no_big_module():
    assert _tool().problems() == []


def test_the_checker_finds_a_cycle():
    """A check that cannot fail proves nothing: two modules importing each other are a cycle."""
    tool = _tool()
    assert tool.cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert tool.cycles({"a": {"b"}, "b": set()}) == []


def test_function_level_imports_count(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from symbn.render.latex import document\n")
    assert _tool().imports("symbn.proof.m", module, {"symbn.render.latex", "symbn.proof.m"}) == {"symbn.render.latex"}
