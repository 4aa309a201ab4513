"""symbn reads code and never runs it: code that would act if executed is refused (or
ignored where it is outside the function) without acting, and random source ends in a
verdict or a clean one-line error."""

from __future__ import annotations

import builtins
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbn
from symbn.lang.python import BindError, CodeError

from ...files import BATCHNORM

BN = symbn.load(BATCHNORM)
MARKER = Path("/tmp/symbn-must-never-exist")
MODULE = "symbn_marker_module_never_imported"

ACTS_IN_THE_BODY = f'''
import numpy as np

def backward(dout, cache):
    open("{MARKER}", "w").write("ran")
    return dout
'''
IMPORTS_IN_THE_BODY = f'''
def backward(dout, cache):
    import {MODULE}
    return dout
'''
CALLS_OS = f'''
import os

def backward(dout, cache):
    os.system("touch {MARKER}")
    return dout
'''
DUNDER_IMPORT = f'''
def backward(dout, cache):
    m = __import__("{MODULE}")
    return dout
'''
IN_A_DEFAULT = f'''
def backward(dout, cache=open("{MARKER}", "w")):
    return dout * 1
'''
IN_A_HELPER = f'''
def helper(a):
    exec("open('{MARKER}', 'w')")
    return a

def backward(dout, cache):
    return helper(dout)
'''
OUTSIDE_THE_FUNCTION = f'''
import {MODULE}
open("{MARKER}", "w").write("ran")

def backward(dout):
    return dout
'''


@pytest.fixture
def tripwires(monkeypatch):
    """open, __import__ and os.system, patched to record any call that the code asks for (exec and
    eval are not patched: the import system runs modules with exec; what they would run here
    opens the marker file, which is recorded)."""
    calls = []
    real_open, real_import = builtins.open, builtins.__import__

    def guarded_open(file, *args, **kwargs):
        if str(MARKER) in str(file):
            calls.append(("open", file))
        return real_open(file, *args, **kwargs)

    def guarded_import(name, *args, **kwargs):
        if MODULE in name:
            calls.append(("import", name))
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(builtins, "__import__", guarded_import)
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(("system", a)))
    yield calls
    assert not MARKER.exists() and MODULE not in sys.modules


@pytest.mark.parametrize("code, refusal", [
    (ACTS_IN_THE_BODY, ":5:5: a statement whose value is not kept is not supported"),
    (IMPORTS_IN_THE_BODY, ":3:5: imports inside the function are not supported"),
    (CALLS_OS, ":5:5: a statement whose value is not kept is not supported"),
    (DUNDER_IMPORT, ":3:9: name '__import__' is not defined"),
    (IN_A_HELPER, ":3:5: a statement whose value is not kept is not supported"),
], ids=["open", "import", "os.system", "__import__", "exec in a helper"])
def test_code_that_would_act_is_refused_without_acting(tripwires, code, refusal):
    with pytest.raises(CodeError) as err:
        symbn.check_code(BN, code, function="backward", bind={"dout": "dy"}, returns=["x"], time_limit=None)
    assert refusal in str(err.value)
    assert tripwires == []


@pytest.mark.parametrize("code", [IN_A_DEFAULT, OUTSIDE_THE_FUNCTION], ids=["a default", "the module"])
def test_what_lies_outside_the_function_body_is_never_run(tripwires, code):
    report = symbn.check_code(BN, code, function="backward", bind={"dout": "dy"}, returns=["beta"], time_limit=None)
    assert report.items[0].result.verdict == "refuted"  # dout is not sum(dout); nothing was run to say so
    assert tripwires == []


# --- random source ------------------------------------------------------------------------------

NAMES = ["dout", "x_norm", "gamma", "ivar", "xmu", "N", "a", "b", "cache['mean']", "cache['var']", "1", "0.5", "2"]
expr = st.recursive(
    st.sampled_from(NAMES),
    lambda e: st.one_of(
        st.tuples(e, st.sampled_from(["+", "-", "*", "/", "**"]), e).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["np.sum({}, axis=0)", "np.mean({}, axis=1)", "{}.sum(0, keepdims=True)",
                                   "np.sqrt({})", "-{}", "np.var({}, axis=0, ddof=1)", "torch.rsqrt({})",
                                   "{}.pow(2)", "np.ones_like({})", "np.ones((N, D)) * {}", "{}.mean(-1)",
                                   "f({})", "{}[0]", "{}.shape[0]"]), e).map(lambda t: t[0].format(t[1])),
    ),
    max_leaves=6,
)
JUNK = [f"open('{MARKER}', 'w')", "import os", f"__import__('{MODULE}')", "exec('x = 1')", "eval('1')",
        "for i in range(2):\n        a = i", "while True:\n        pass", "print(dout)", "del a", "global a",
        "raise ValueError", f"with open('{MARKER}') as g:\n        pass", "yield dout", "x = lambda: 0", "assert a"]
statement = st.one_of(
    st.tuples(st.sampled_from(["a", "b", "dx", "N, D"]), expr).map(lambda t: f"{t[0]} = {t[1]}" if t[0] != "N, D"
                                                                     else "N, D = dout.shape"),
    st.tuples(st.sampled_from(["a", "dx"]), st.sampled_from(["+=", "-=", "*=", "/="]), expr).map(" ".join),
    st.sampled_from(JUNK),
)
source = st.tuples(st.lists(statement, max_size=5), st.one_of(expr, st.tuples(expr, expr, expr).map(", ".join))).map(
    lambda t: "def f(dout, cache, x_norm, gamma, ivar, xmu):\n    a = dout\n    N, D = dout.shape\n" + "".join(f"    {s}\n" for s in t[0]) + f"    return {t[1]}\n")
junk_text = st.text(alphabet="def (dout):\n    return+*-/.[]'\"=np.sumaxis0123 ,#\\", max_size=60)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code=st.one_of(source, junk_text))
def test_random_source_ends_in_a_verdict_or_a_clean_error_and_never_runs(code):
    triple = code.rstrip().rsplit("return", 1)[-1].count(",") == 2
    try:
        report = symbn.check_code(BN, code, bind={"dout": "dy", "x_norm": "xhat", "mean": "mu"},
                                  returns=None if triple else ["x"],
                                  time_limit=5)
    except (CodeError, BindError) as err:
        assert "\n" not in str(err) and str(err)
        return
    finally:
        assert not MARKER.exists() and MODULE not in sys.modules
    assert all(i.result.verdict in ("proved", "refuted", "unknown") for i in report.items)
