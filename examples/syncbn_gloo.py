"""BatchNorm split across processes: symbn's emitted NumPy module with reduce= on torch.distributed (gloo, CPU).

    python examples/syncbn_gloo.py                  # 3 processes holding 5, 1, 9 rows; then 2 holding 1, 6
    python examples/syncbn_gloo.py --sizes 1,6      # 2 processes
    python examples/syncbn_gloo.py --mean 1e4       # data far from zero

The module is emitted from derivations/batchnorm.toml (its formulas proved for every
N first).  Each process passes its own rows to forward and backward with
reduce=symbn.distributed.torch_all_reduce() and gets its own rows of y and dx, and
the whole batch's dgamma and dbeta.  They are compared with one process on the
concatenated batch (the same module, float64) and with torch's F.batch_norm
(training mode, autograd) on the concatenated batch: torch.nn.SyncBatchNorm and
its kernels (batch_norm_stats, batch_norm_gather_stats_with_counts) do not run
on CPU tensors.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DTYPES = ("float64", "float32")


def emit(path: Path = ROOT / "derivations" / "batchnorm.toml") -> str:
    """The emitted module's source (what ``symbn emit`` prints)."""
    import symbn
    from symbn.emit.module import emit_module

    return emit_module(symbn.load(path))


def load(source_path: Path):
    """An emitted module from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("batchnorm_emitted", source_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def data(sizes, channels=3, seed=0, mean=0.0):
    """x, dy (the whole batch), gamma, beta in float64; x exact in float32 too."""
    rng = np.random.default_rng(seed)
    x = (mean + rng.standard_normal((sum(sizes), channels))).astype(np.float32).astype(np.float64)
    return x, rng.standard_normal(x.shape), rng.standard_normal(channels), rng.standard_normal(channels)


# --- one process of the group ---------------------------------------------------------------


def worker(rank: int, world: int, port: int, folder: Path) -> None:
    """Rank ``rank``: for each case its rows through forward and backward with reduce=, in both dtypes.
    A case on fewer processes than the group runs on ranks 0.. of a group of its own (torch's group=)."""
    import torch.distributed as dist

    from symbn.distributed import torch_all_reduce

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        module = load(folder / "batchnorm_emitted.py")
        cases = int(np.load(folder / "cases.npy"))
        groups = []
        for c in range(cases):  # every rank creates every group, in the same order
            size = int(np.load(folder / f"case{c}_size.npy"))
            groups.append(None if size == world else dist.new_group(list(range(size))))
        out = {}
        for c, group in enumerate(groups):
            path = folder / f"case{c}_rank{rank}.npz"
            if not path.exists():
                continue
            given = np.load(path)
            for dtype in DTYPES:
                reduce = torch_all_reduce(group)
                x, dy, gamma, beta = (given[k].astype(dtype) for k in ("x", "dy", "gamma", "beta"))
                y, saved = module.forward(x, gamma, beta, return_saved=True, reduce=reduce)
                dx, dgamma, dbeta = module.backward(dy, x, gamma, beta, saved=saved, reduce=reduce)
                key = f"case{c}_{dtype}"
                out |= {f"{key}_y": y, f"{key}_dx": dx, f"{key}_dgamma": dgamma, f"{key}_dbeta": dbeta,
                        f"{key}_messages": np.array([reduce.calls, reduce.values])}
        np.savez(folder / f"out{rank}.npz", **out)
    finally:
        dist.destroy_process_group()


# --- the group, and the comparison --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cases, channels=3, seed=0, mean=0.0, timeout=120.0) -> list[dict]:
    """One group of max(len(sizes)) processes (gloo on localhost); in case c rank k holds
    cases[c][k] rows.  Returns, per case, what the ranks computed and the references on
    the whole batch."""
    world = max(len(sizes) for sizes in cases)
    source = emit()
    module = load_source(source)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "batchnorm_emitted.py").write_text(source)
        np.save(folder / "cases.npy", len(cases))
        for c, sizes in enumerate(cases):
            x, dy, gamma, beta = data(sizes, channels, seed + c, mean)
            cuts = np.cumsum(sizes)[:-1]
            np.save(folder / f"case{c}_size.npy", len(sizes))
            for k, (xk, dyk) in enumerate(zip(np.split(x, cuts), np.split(dy, cuts))):
                np.savez(folder / f"case{c}_rank{k}.npz", x=xk, dy=dyk, gamma=gamma, beta=beta)
            one = dict(zip(("y", "dx", "dgamma", "dbeta"),
                           (module.forward(x, gamma, beta), *module.backward(dy, x, gamma, beta))))
            results.append({"sizes": tuple(sizes), "one_process": one, "inputs": (x, dy, gamma, beta),
                            "torch": torch_reference(x, dy, gamma, beta)})
        ranks = _start(folder, world, timeout)
    for c, result in enumerate(results):
        prefix = f"case{c}_"
        result["ranks"] = [{k[len(prefix):]: v for k, v in r.items() if k.startswith(prefix)}
                           for r in ranks[:len(result["sizes"])]]
    return results


def _start(folder: Path, world: int, timeout: float) -> list[dict]:
    """Run the workers; each rank's outputs."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(k), str(world), str(port), str(folder)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k in range(world)]
    try:
        logs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    failed = [(k, p.returncode, log) for k, (p, log) in enumerate(zip(procs, logs)) if p.returncode]
    if failed:
        raise RuntimeError("a rank failed: " + "; ".join(f"rank {k} exit {rc}: {log[-2000:]}" for k, rc, log in failed))
    return [dict(np.load(folder / f"out{k}.npz")) for k in range(world)]


def load_source(source: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batchnorm_emitted.py"
        path.write_text(source)
        return load(path)


def torch_reference(x, dy, gamma, beta) -> dict | None:
    """F.batch_norm in training mode on the whole batch, and its autograd gradients (float64)."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    y = F.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-5)
    y.backward(torch.tensor(dy))
    return {"y": y.detach().numpy(), "dx": xt.grad.numpy(), "dgamma": gt.grad.numpy(), "dbeta": bt.grad.numpy()}


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def errors(result: dict, against: str) -> dict[tuple[str, str], float]:
    """Max relative error of the split run against a reference on the whole batch, per dtype and output:
    y and dx joined over the ranks, dgamma and dbeta the worst rank's."""
    ref, out = result[against], {}
    for dtype in DTYPES:
        for name in ("y", "dx"):
            out[dtype, name] = relative(np.concatenate([r[f"{dtype}_{name}"] for r in result["ranks"]]), ref[name])
        for name in ("dgamma", "dbeta"):
            out[dtype, name] = max(relative(r[f"{dtype}_{name}"], ref[name]) for r in result["ranks"])
    return out


def report(result: dict) -> str:
    sizes, C = result["sizes"], result["inputs"][2].size
    lines = [f"{len(sizes)} processes (gloo), rows per rank {list(sizes)}, {C} channels"]
    for against in ("one_process", "torch"):
        if result[against] is None:
            lines.append("torch is not installed: no F.batch_norm reference")
            continue
        label = "one process, same module, float64" if against == "one_process" else \
            "torch F.batch_norm + autograd, float64"
        lines.append(f"max relative error against {label}:")
        e = errors(result, against)
        for dtype in DTYPES:
            lines.append(f"  {dtype}: " + "  ".join(f"{n} {e[dtype, n]:.1e}" for n in ("y", "dx", "dgamma", "dbeta")))
    calls, values = result["ranks"][0]["float64_messages"]
    lines.append(f"messages per rank, forward + backward: {calls} all-reduces, {values} float64 values "
                 f"(1 + 2·C = {1 + 2 * C} each way)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,1,9;1,6",
                        help="rows per process, comma-separated; cases separated by ';' (default '5,1,9;1,6': "
                             "3 processes, then 2 of them in a group of their own)")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--mean", type=float, default=0.0, help="mean of x (default 0)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        rank, world, port, folder = args.worker
        worker(int(rank), int(world), int(port), Path(folder))
        return 0
    cases = [[int(n) for n in sizes.split(",")] for sizes in args.sizes.split(";")]
    print("\n\n".join(report(r) for r in run(cases, args.channels, mean=args.mean)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
