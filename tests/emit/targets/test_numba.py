"""The numba target on every derivation file: agreement with the NumPy module, saved statistics, out=, threads."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symbn.emit.targets import load
from symbn.ir.primitives import CONSTANT, ROW

from ...files import ROOT
from .cases import CASES, Case, agree, error, inputs, keywords, reference

numba = pytest.importorskip("numba", reason="numba is not installed (pip install 'symbn[numba]')")


def test_imports_numba_and_numpy_only(numba_case):
    """And llvmlite, numba's own binding of LLVM (installed with it), which says what the host's vectors are."""
    _, module, _ = numba_case
    tree = ast.parse(module.SOURCE)
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"functools", "llvmlite", "numba", "numpy"}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_agrees_with_the_numpy_module(numba_case, case):
    layer, module, numpy_module = numba_case
    args, dy = inputs(layer, case)
    kw = keywords(layer, case)
    same, exact = reference(numpy_module, case, args, dy, kw)
    got = [module.forward(*args, **kw), *module.backward(dy, *args, **kw)]
    names = ["y", *module.GRADIENTS]
    agree(got, same, case.tolerance, names, exact)
    if case.kind == "offset":  # and accurate: against float64 arithmetic on the same float32 data
        agree(got, exact, 2e-6, names)
    assert all(np.asarray(g).dtype == case.dtype for g in got)


@pytest.mark.parametrize("case", [c for c in CASES if c.name in ("columns", "4-D over (0, 2, 3)")], ids=str)
def test_saved_statistics_ours_and_the_numpy_modules(numba_case, case):
    layer, module, numpy_module = numba_case
    args, dy = inputs(layer, case, seed=3)
    kw = {"axis": case.axis}
    want = numpy_module.backward(dy, *args, **kw)
    for forward in (module.forward, numpy_module.forward):
        _, saved = forward(*args, return_saved=True, **kw)
        assert set(saved) == set(module.SAVED)
        agree(list(module.backward(dy, *args, saved=saved, **kw)), list(want), case.tolerance, list(module.GRADIENTS))


def test_out_buffers_are_written_in_place(numba_case):
    layer, module, _ = numba_case
    args, dy = inputs(layer, CASES[0])
    want = module.backward(dy, *args)
    buffers = tuple(np.empty_like(np.asarray(w)) for w in want)
    got = module.backward(dy, *args, out=buffers)
    assert all(g is b for g, b in zip(got, buffers))
    assert all(np.array_equal(g, w) for g, w in zip(got, want))


def test_results_do_not_depend_on_the_number_of_threads(numba_case):
    """Tasks are fixed by the shape, so 1 and 2 threads give the same bits."""
    layer, module, _ = numba_case
    for case in (Case("columns", (1000, 40), 0, np.float32), Case("4-D", (40, 3, 9, 11), (0, 2, 3), np.float64)):
        args, dy = inputs(layer, case, seed=5)
        results = []
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            results.append([module.forward(*args, axis=case.axis), *module.backward(dy, *args, axis=case.axis)])
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        assert all(np.array_equal(a, b) for a, b in zip(*results))


def test_float16_is_computed_in_float32(numba_case):
    layer, module, numpy_module = numba_case
    args, dy = inputs(layer, CASES[1])
    half = [a.astype(np.float16) for a in args]
    got = module.backward(dy.astype(np.float16), *half)
    want = numpy_module.backward(dy.astype(np.float16), *half)
    assert all(np.asarray(g).dtype == np.float16 for g in got)
    assert max(error(g, w) for g, w in zip(got, want)) < 1e-2


def test_complex_data_is_refused_with_a_reason(numba_case):
    layer, module, _ = numba_case
    args, _ = inputs(layer, CASES[0])
    with pytest.raises(TypeError, match="real data"):
        module.forward(*(a.astype(complex) for a in args))


def test_kernels_compile_lazily_only_the_signatures_used(numba_case):
    """A fresh copy of the module (its own file, so its own dispatchers): one float64 backward on
    small BatchNorm-shaped columns compiles the backward's small kernel of the cols layout, once; one on
    large columns its reduce and element-wise kernels; nothing else (no forward, no runs layout, no float32)."""
    layer, module, _ = numba_case
    if numba.config.DISABLE_JIT:
        pytest.skip("NUMBA_DISABLE_JIT is set: nothing compiles")
    if layer.name != "batchnorm":
        pytest.skip("checked once, on batchnorm: each fresh copy compiles its kernels")
    fresh = load(layer, "numba", source=module.SOURCE + "\n# a fresh copy: its own dispatchers\n")
    kernels = {name: k for name, k in vars(fresh).items() if isinstance(k, numba.core.registry.CPUDispatcher)}
    assert not any(k.signatures for k in kernels.values())
    args, dy = inputs(layer, CASES[0])
    fresh.backward(dy, *args)
    compiled = {name for name, k in kernels.items() if k.signatures}
    assert compiled == {"_backward_small_cols"}
    large = Case("columns", (2048, 64), 0, np.float64)
    large_args, large_dy = inputs(layer, large)
    fresh.backward(large_dy, *large_args)
    compiled = {name for name, k in kernels.items() if k.signatures}
    assert compiled == {"_backward_small_cols", "_backward_reduce_cols", "_backward_rows_cols"}
    assert all(len(kernels[name].signatures) == 1 for name in compiled)


def test_every_file_with_the_jit_off():
    """Every derivation file's kernels, run as Python (NUMBA_DISABLE_JIT=1): the same code numba compiles, on
    all the cases of the agreement tests (compiled, they run on the files of conftest.NUMBA_COMPILED).
    Floating-point warnings are ignored, as compiled kernels raise none."""
    if os.environ.get("NUMBA_DISABLE_JIT") or os.environ.get("SYMBN_NUMBA_ALL"):
        pytest.skip("this run already covers every file")
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::RuntimeWarning",
                          str(Path(__file__)), "-k", "agrees or saved_statistics"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=1200, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "[100%]" in run.stdout and "F" not in run.stdout.replace("FAIL", ""), run.stdout[-500:]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_plain_call_and_the_general_path_give_the_same_bits(numba_case, case, monkeypatch):
    """A plain call (contiguous arrays of one dtype: numba_runtime._plain) skips the shape rules' Python and
    runs the same kernels on the same values: forcing the general path changes no bit."""
    layer, module, _ = numba_case
    args, dy = inputs(layer, case, seed=7)
    kw = {"axis": case.axis}

    def run():
        _, saved = module.forward(*args, return_saved=True, **kw)
        return [module.forward(*args, **kw), *module.backward(dy, *args, **kw), *module.backward(dy, *args, saved=saved, **kw)]

    taken = []
    plain = module._plain
    monkeypatch.setattr(module, "_plain", lambda *a: taken.append(plain(*a)) or taken[-1])
    fast = run()
    assert all(t is not None for t in taken)  # these calls are plain (small plain calls do not reach _plain)
    monkeypatch.setattr(module, "_plain", lambda *a: None)
    monkeypatch.setattr(module, "_small", lambda *a: None)
    general = run()
    assert all(f.dtype == g.dtype and f.shape == g.shape and np.array_equal(f, g, equal_nan=True)
               for f, g in zip(fast, general))



@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda t: np.dtype(t).name)
def test_small_plain_calls_take_the_small_kernel_directly(numba_case, dtype, monkeypatch):
    """A plain call of small 2-D data that the kernels read as they are calls the small kernel with no _run around
    it (numba.py's _small_plain): forward, backward, and backward given saved statistics; with the general path's
    bits.  Saved statistics the kernels cannot read as they are (a strided view), and layers with a row input
    (whose gradient is summed by slabs), take the plain path, with the same bits."""
    layer, module, _ = numba_case
    args, dy = inputs(layer, Case("columns", (40, 6), 0, dtype), seed=4)
    run, ran = module._run, []
    monkeypatch.setattr(module, "_run", lambda *a: ran.append(a) or run(*a))

    def calls(saved_as=lambda v: v):
        y, saved = module.forward(*args, return_saved=True)
        saved = {k: saved_as(v) for k, v in saved.items()}
        return [y, module.forward(*args), *module.backward(dy, *args), *module.backward(dy, *args, saved=saved)]

    direct = calls()
    row_inputs = [n for n, i in layer.inputs.items() if i.kind == ROW][1:]
    assert len(ran) == (4 if row_inputs else 0)
    ran.clear()
    strided = calls(lambda v: np.stack([v, v], axis=-1)[..., 0])
    assert len(ran) == (4 if row_inputs else 1)
    monkeypatch.setattr(module, "_plain", lambda *a: None)
    monkeypatch.setattr(module, "_small", lambda *a: None)
    general = calls()
    for got in (direct, strided):
        assert all(g.dtype == w.dtype and g.shape == w.shape and np.array_equal(g, w, equal_nan=True)
                   for g, w in zip(got, general))


def test_the_small_path_takes_exactly_the_calls_plain_takes(numba_case, monkeypatch):
    """A small call is checked by one cached look-up of the data (_small) and the other inputs inline, not through
    _plain (NOTES 55): it takes the small kernel exactly when _plain would take it as plain, 2-D and small.  Every
    input the kernels cannot read as it is (another dtype, a strided or Fortran-ordered view, another shape, a list,
    an axis of another type, an out buffer) sends the call on to _plain, with the same results."""
    layer, module, _ = numba_case
    if [n for n, i in layer.inputs.items() if i.kind == ROW][1:]:
        pytest.skip("a layer with a row input has no small path")
    args, dy = inputs(layer, Case("columns", (40, 6), 0, np.float32), seed=2)
    kinds = [i.kind for i in layer.inputs.values() if i.kind != CONSTANT]
    at = kinds.index(ROW)
    x, slices = args[at], [a for a, kind in zip(args, kinds) if kind != ROW]
    other = np.float64 if x.dtype == np.float32 else np.float32
    variants = {"plain": ({}, dy, {}), "dy in another dtype": ({}, dy.astype(other), {}),
                "dy Fortran-ordered": ({}, np.asfortranarray(dy), {}), "dy a list": ({}, dy.tolist(), {}),
                "x strided": ({at: np.repeat(x, 2, axis=1)[:, ::2]}, dy, {}), "axis np.int64": ({}, dy, {"axis": np.int64(0)}),
                "axis a tuple": ({}, dy, {"axis": (0,)}), "out given": ({}, dy, {"out": np.empty_like(x)})}
    if slices:
        k = next(i for i, a in enumerate(args) if a is slices[0])
        variants |= {"a per-slice input strided": ({k: np.repeat(slices[0], 2)[::2]}, dy, {}),
                     "a per-slice input 2-D": ({k: slices[0][None, :]}, dy, {}),
                     "a per-slice input in another dtype": ({k: slices[0].astype(other)}, dy, {})}
    plain = module._plain
    for name, (change, d, kw) in variants.items():
        given = [change.get(i, a) for i, a in enumerate(args)]
        found = plain(given[at], kw.get("axis", 0), (d,), tuple(a for a, kind in zip(given, kinds) if kind != ROW), (),
                      kw.get("out"))
        small = found is not None and found[5] and found[6]
        called = []
        monkeypatch.setattr(module, "_plain", lambda *a, called=called: called.append(1) or plain(*a))
        got = module.backward(d, *given, **kw)
        assert (not called) == small == (name in ("plain", "axis a tuple")), name
        monkeypatch.setattr(module, "_small", lambda *a: None)
        want = module.backward(d, *given, **kw)
        monkeypatch.undo()
        assert all(np.array_equal(g, w) for g, w in zip(got, want)), name


MANY_SLICES = [Case("columns, 40 slices", (50, 40), 0, np.float64), Case("rows, 40 slices", (40, 50), -1, np.float32)]
# 384 kB an array, rows of 2 kB: a backward of 3 to 5 such arrays (1.1 to 1.9 MB) is small by the wide-rows rule only
# (numba_runtime._blocks, NOTES 56)
WIDE = [Case("columns, wide rows", (192, 256), 0, np.float64), Case("columns, wide rows", (192, 512), 0, np.float32)]


@pytest.mark.parametrize("case", CASES + MANY_SLICES + WIDE, ids=str)
def test_small_data_in_one_kernel_agree_with_the_two_kernels(numba_case, case, monkeypatch):
    """These cases are small: the small kernel does the work (numba_runtime._blocks), on one thread; forced
    through the reduce and element-wise kernels instead, every result agrees to the case's tolerance (the sums
    may be grouped otherwise)."""
    layer, module, _ = numba_case
    args, dy = inputs(layer, case, seed=9)
    kw = keywords(layer, case)

    def run():
        _, saved = module.forward(*args, return_saved=True, **kw)
        return [module.forward(*args, **kw), *module.backward(dy, *args, **kw), *module.backward(dy, *args, saved=saved, **kw)]

    taken = []
    blocks = module._blocks
    module._small_layout.cache_clear()  # a small plain call asks _blocks once per shape, then its cache
    monkeypatch.setattr(module, "_blocks", lambda *a: taken.append(blocks(*a)) or taken[-1])
    small = run()
    assert taken and all(t[2] for t in taken)
    monkeypatch.setattr(module, "_blocks", lambda lay, itemsize, arrays, slabs, whole: (*module._row_blocks(lay, itemsize, arrays, slabs), False))
    monkeypatch.setattr(module, "_small", lambda *a: None)
    two = run()
    names = ["y", *module.GRADIENTS, *module.GRADIENTS]
    agree(small, two, case.tolerance, names)


def test_sums_added_rows_at_a_time_give_the_same_bits(numba_case, monkeypatch):
    """A cols sweep adds rows to its sums several at a time and the element-wise pass takes several rows at a time
    (loops.REDUCE_GROUPS, SMALL_GROUPS, ROWS_GROUPS: by the row's width and the sweep's number of sums); printed
    with no groups, every row one at a time, every result of the small kernel and of the reduce kernels is the
    same, bit for bit: the additions are in the same order.  Narrow and wide rows, float32's one sweep and
    float64's two passes, row counts that leave rows over after the groups, wide rows in the small kernel; on
    BatchNorm, and on LayerNorm over axis 0, whose element-wise pass also sums the gradients of gamma and beta by
    row."""
    layer, module, _ = numba_case
    if layer.name not in ("batchnorm", "layernorm") or numba.config.DISABLE_JIT:
        pytest.skip("checked on batchnorm and layernorm, compiled")
    from symbn.emit.targets import loops
    from symbn.emit.targets import numba as numba_target

    wide, pairs = loops.REDUCE_GROUPS[0][1], loops.ROWS_GROUPS[0][1]
    for name in ("REDUCE_GROUPS", "SMALL_GROUPS", "ROWS_GROUPS"):
        monkeypatch.setattr(loops, name, ())
    single = numba_target.emit(layer)
    for grouped in ("range(_a0, _a4, 4)", "range(_a0, _a4, 2)", "range(_a0, _a2, 2)", f"if _w >= {wide}:"):
        assert grouped in module.SOURCE and grouped not in single
    one = load(layer, "numba", source=single)
    monkeypatch.setattr(module, "_PAIRS_FROM", pairs)  # the element-wise pass in pairs on any host
    for case in [Case("small", (37, 5), 0, np.float32), Case("small", (38, 5), 0, np.float64),
                 Case("reduce", (4099, 33), 0, np.float32), Case("reduce", (2051, 70), 0, np.float64),
                 Case("reduce", (1031, wide), 0, np.float32), Case("reduce", (1030, wide + 3), 0, np.float64),
                 Case("small, wide rows", (61, wide + 60), 0, np.float32)]:
        args, dy = inputs(layer, case, seed=3)
        got = [module.forward(*args, axis=0), *module.backward(dy, *args, axis=0)]
        want = [one.forward(*args, axis=0), *one.backward(dy, *args, axis=0)]
        assert all(np.array_equal(g, w) for g, w in zip(got, want)), case


def test_the_element_wise_pass_takes_rows_in_pairs_on_avx512_hosts_only(numba_case):
    """Two rows at a time were 12% faster at 4096 x 1024 float32 on a znver4 (AVX-512) and 10% slower on a znver3
    (AVX2): the module reads the host's features once (NOTES 59)."""
    _, module, _ = numba_case
    from llvmlite import binding

    from symbn.emit.targets import loops

    avx512 = binding.get_host_cpu_features().get("avx512f", False)
    assert module._PAIRS_FROM == (loops.ROWS_GROUPS[0][1] if avx512 else 1 << 62)
    assert "if _w >= _pairs_from:" in module.SOURCE


def _every_result(module, args, dy):
    """y, the backward's gradients, and the backward's gradients given forward's saved statistics (axis 0)."""
    y, saved = module.forward(*args, axis=0, return_saved=True)
    return [y, *module.backward(dy, *args, axis=0), *module.backward(dy, *args, axis=0, saved=saved)]


def test_values_no_later_sweep_reads_are_not_computed(numba_case, monkeypatch):
    """After its sweep a block computes only what a later sweep or its own stores to _P read (loops._live): the last
    sweep's statistics (BatchNorm's var = Σ/_nb, a division per slice and block) reach the merge through _P, so they
    are not printed.  Printed with every value computed, every result is the same, bit for bit; on BatchNorm and on
    LayerNorm over axis 0, float32's one sweep and float64's two passes, in the small and the reduce kernels."""
    layer, module, _ = numba_case
    if layer.name not in ("batchnorm", "layernorm") or numba.config.DISABLE_JIT:
        pytest.skip("checked on batchnorm and layernorm, compiled")
    from symbn.emit.targets import loops
    from symbn.emit.targets import numba as numba_target

    monkeypatch.setattr(loops, "_live", lambda lines, made, later: (lines, made))
    every = numba_target.emit(layer)
    assert module.SOURCE.count("/ _nb\n") < every.count("/ _nb\n")
    one = load(layer, "numba", source=every)
    for case in [Case("small", (37, 5), 0, np.float32), Case("small", (38, 5), 0, np.float64),
                 Case("reduce", (4099, 33), 0, np.float32), Case("reduce", (2051, 70), 0, np.float64)]:
        args, dy = inputs(layer, case, seed=5)
        got, want = _every_result(module, args, dy), _every_result(one, args, dy)
        assert all(np.array_equal(g, w) for g, w in zip(got, want)), case


def test_the_small_kernels_merge_in_two_loops_gives_the_same_bits(numba_case, monkeypatch):
    """The small kernel merges its blocks in one loop over the slices and runs the per-slice ops (divisions, square
    roots) in a second, which LLVM vectorises (loops.Kernels._two_loops); printed as one loop, every result is the
    same, bit for bit: forward, backward, backward with saved statistics, float32 and float64."""
    layer, module, _ = numba_case
    if layer.name not in ("batchnorm", "layernorm") or numba.config.DISABLE_JIT:
        pytest.skip("checked on batchnorm and layernorm, compiled")
    from symbn.emit.targets import loops
    from symbn.emit.targets import numba as numba_target

    monkeypatch.setattr(loops.Kernels, "_two_loops", lambda self, body, cut: ["for _k in range(_K):", *loops.indent(body, 1)])
    one_loop = numba_target.emit(layer)
    assert "_M = np.empty(" in module.SOURCE and "_M = np.empty(" not in one_loop
    one = load(layer, "numba", source=one_loop)
    for case in [Case("small", (37, 5), 0, np.float32), Case("small", (38, 5), 0, np.float64),
                 Case("small, two blocks", (300, 9), 0, np.float64)]:
        args, dy = inputs(layer, case, seed=7)
        got, want = _every_result(module, args, dy), _every_result(one, args, dy)
        assert all(np.array_equal(g, w) for g, w in zip(got, want)), case


def test_small_float32_data_keep_their_statistics_with_an_outlier_first(numba_case):
    """The small kernel sums cols data in blocks of at most 256 rows, as the reduce kernel does: a float32 sweep
    centred on its block's first row, here an outlier 1e4 away from 131072 values within 0.01, keeps the saved
    statistics as accurate as float64 arithmetic allows (one block of every row gave ivar 4e-8 off)."""
    layer, module, _ = numba_case
    if layer.name != "batchnorm":
        pytest.skip("checked once, on batchnorm")
    rng = np.random.default_rng(5)
    x = (1e4 + 0.01 * rng.standard_normal((1 << 17, 1))).astype(np.float32)
    x[0] = 0.0
    assert module._blocks(module._layout(x.shape, (0,)), 4, 2, False, False)[2]  # the small kernel
    _, saved = module.forward(x, np.ones(1, np.float32), np.zeros(1, np.float32), return_saved=True)
    exact = x.astype(np.float64)
    ivar = 1 / np.sqrt(exact.var(axis=0) + 1e-5)
    assert abs(saved["mu"].item() / exact.mean() - 1) < 1e-13
    assert abs(saved["ivar"].item() / ivar.item() - 1) < 1e-11


def test_float32_blocks_take_one_sweep_and_float64_two(numba_case):
    """_reduce asks the kernels for one sweep exactly when the data are float32 (``_narrow`` True; None for
    float64, so that numba compiles only the two passes there); the sweep's estimate is the block's first row, and
    with an outlier there (the worst place) float32 results stay as accurate as the two passes' (a float32
    difference and its square are exact in float64)."""
    layer, module, numpy_module = numba_case
    if layer.name != "batchnorm":
        pytest.skip("checked once, on batchnorm")
    asked = []
    kernels = (lambda *a: asked.append(a[-1]), None)
    for dtype in (np.float32, np.float64):
        x = np.ones((300, 4), dtype)
        module._reduce(kernels, module._layout(x.shape, (0,)), (x, x), (), (), False)
    assert asked == [True, None]
    rng = np.random.default_rng(11)
    x = (1e4 + rng.standard_normal((1024, 5))).astype(np.float32)
    x[::256] += 3000  # the first row of every block (256 rows) an outlier
    dy, gamma, beta = rng.standard_normal((1024, 5)).astype(np.float32), np.ones(5, np.float32), np.zeros(5, np.float32)
    lay = module._layout(x.shape, (0,))
    ablock, kchunk = module._reduce_blocks(lay, 4, 2, False)
    assert ablock == 256
    sweeps = [module._BACKWARD[0][0](x, dy, gamma.astype(float), beta.astype(float), 1e-5, ablock, kchunk, narrow)
              for narrow in (True, None)]
    assert np.max(np.abs(sweeps[0] - sweeps[1]) / np.maximum(np.abs(sweeps[1]), 1e-30)) < 1e-12
    exact = numpy_module.backward(*(a.astype(np.float64) for a in (dy, x, gamma, beta)))
    for got, want in zip(module.backward(dy, x, gamma, beta), exact):
        assert error(got, want) < 2e-6


def test_inputs_the_kernels_cannot_take_are_refused_in_words(numba_case):
    """A float128 array, an array for a constant, a 0.0 axis: the numba module says what is wrong, naming the
    input, where it would otherwise fail inside numba or take 0.0 for 0 after a call with 0 (a blind review)."""
    layer, module, _ = numba_case
    if layer.name != "batchnorm":
        pytest.skip("checked once, on batchnorm")
    x, g = np.ones((12, 7)), np.ones(7)
    if np.dtype(np.longdouble).itemsize > 8:  # float128 where long double is wider than double (x86-64 Linux)
        with pytest.raises(TypeError, match=f"float16, float32 and float64 data, not {np.dtype(np.longdouble)}"):
            module.forward(x.astype(np.longdouble), g, g)
    with pytest.raises(TypeError, match=r"eps must be one real number .* an array of shape \(7,\)"):
        module.forward(x, g, g, eps=np.full(7, 1e-5))
    assert np.array_equal(module.forward(x, g, g, eps=np.array([1e-5])), module.forward(x, g, g, eps=1e-5))
    with pytest.raises(ValueError, match="^beta has shape"):
        module.forward(x, g, np.ones(5))
    module.forward(x, g, g, axis=0)
    for axis in (0.0, (0.0,), True):
        with pytest.raises(ValueError, match="axis must be an int"):
            module.forward(x, g, g, axis=axis)


def test_row_inputs_of_any_shape_that_broadcasts_as_the_numpy_module_takes_them(numba_case):
    """A row input (LayerNorm's gamma) of the data's shape, or varying along the kept axes ((N, 1) with axis=1):
    the NumPy module takes any shape that broadcasts to the data, and so does the numba module, gradients summed
    to the input's shape (it refused them, in the words of a per-slice input, before a blind review)."""
    layer, module, numpy_module = numba_case
    rows = [n for n, i in layer.inputs.items() if i.kind == "row"][1:]
    if not rows:
        pytest.skip("no row input but the data")
    rng = np.random.default_rng(8)
    x, dy = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    kw = {n: 0.5 for n, i in layer.inputs.items() if i.kind == "constant" and n != "eps"}
    for axis, shape in ((1, (6, 5)), (1, (6, 1)), (0, (6, 5)), (0, (1, 5))):
        args = [x, *(rng.standard_normal(shape) for _ in rows)]
        want = [numpy_module.forward(*args, axis=axis, **kw), *numpy_module.backward(dy, *args, axis=axis, **kw)]
        got = [module.forward(*args, axis=axis, **kw), *module.backward(dy, *args, axis=axis, **kw)]
        assert [np.shape(g) for g in got] == [np.shape(w) for w in want]
        agree(got, want, 1e-12, ["y", *module.GRADIENTS])


def test_a_float32_sweep_that_sums_x_minus_its_estimate_does_not_sum_x(numba_case, monkeypatch):
    """loops.Kernels._derived: in float32's one sweep, BatchNorm's Σ x is ``_nb * mu + Σ (x - mu)`` (mu the block's
    first-row estimate), not a sum of its own.  Printed without the rule, the sweep adds up x again, and every
    result agrees to float64's rounding: data of mean 1e4 with an outlier first, both kernels (small and reduce),
    forward and backward."""
    layer, module, _ = numba_case
    if layer.name != "batchnorm" or numba.config.DISABLE_JIT:
        pytest.skip("checked on batchnorm, compiled")
    from symbn.emit.targets import loops
    from symbn.emit.targets import numba as numba_target

    assert "_nb * mu + _acc[" in module.SOURCE
    monkeypatch.setattr(loops.Kernels, "_derived", lambda self, first, later, value: {})
    plain = numba_target.emit(layer)
    assert "_nb * mu + _acc[" not in plain
    summed = load(layer, "numba", source=plain)
    rng = np.random.default_rng(13)
    for shape in ((300, 7), (4099, 33)):
        x = (1e4 + rng.standard_normal(shape)).astype(np.float32)
        x[0] += 3000
        dy = rng.standard_normal(shape).astype(np.float32)
        gamma, beta = rng.standard_normal(shape[1]).astype(np.float32), np.zeros(shape[1], np.float32)
        results = []
        for m in (module, summed):
            y, saved = m.forward(x, gamma, beta, return_saved=True)
            results.append([y, saved["mu"], saved["ivar"], *m.backward(dy, x, gamma, beta)])
        for got, want in zip(*results):
            assert np.allclose(got, want, rtol=1e-6, atol=1e-6), shape
