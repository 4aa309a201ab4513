"""Time limits that hold: obligations run in a worker process, killed when an obligation's time is up.

A SymPy or FLINT call can run for minutes inside C code, where no alarm interrupts it.
So the jobs of one command run, in order, in one forked worker that first builds
their shared state (the routes, the normal forms) and then reports each job's
result as it finishes.  The parent waits at most ``limit`` seconds for each: the
first job's wait covers building the state.  When a job runs over, the worker is
killed, that job is reported as timed out, and a new worker takes the remaining
jobs.  If the state itself could not be built in time, every job is reported so.

Without a limit (or where ``fork`` is missing) the jobs run in this process.
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

S = TypeVar("S")
R = TypeVar("R")
Job = tuple[Any, Callable[[Any], Any]]  # (key, job(state) -> result)


class WorkerError(RuntimeError):
    """A job raised an exception in the worker: a bug, reported with the worker's traceback."""


def run(
    build: Callable[[], S],
    jobs: Sequence[tuple[Any, Callable[[S], R]]],
    limit: float | None,
    timed_out: Callable[[Any, float, bool], R],
) -> list[tuple[R, float]]:
    """(result, seconds) of each job, in order: its own time, the first job's including
    building the state.  ``timed_out(key, seconds, while_building)`` stands in for the
    result of a job that ran out of time."""
    if not limit or "fork" not in multiprocessing.get_all_start_methods():
        return list(_in_process(build, jobs))
    results: list[tuple[R, float]] = []
    remaining = list(jobs)
    while remaining:
        done = _one_worker(build, remaining, limit, timed_out)
        results += done
        remaining = remaining[len(done):]
    return results


def _in_process(build, jobs):
    started = time.perf_counter()
    state = build()
    for _, job in jobs:
        result = job(state)
        yield result, time.perf_counter() - started
        started = time.perf_counter()


def _one_worker(build, jobs, limit: float, timed_out) -> list:
    """Run jobs in one worker until they are done or one runs out of time."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_work, args=(build, jobs, send), daemon=True)
    worker.start()
    send.close()
    results, built = [], False
    try:
        for key, _ in jobs:
            started = time.perf_counter()
            while True:
                if not receive.poll(max(0.0, limit - (time.perf_counter() - started))):
                    elapsed = time.perf_counter() - started
                    results.append((timed_out(key, elapsed, not built), elapsed))
                    if not built:  # nothing can be done in time: say so for every job
                        results += [(timed_out(k, 0.0, True), 0.0) for k, _ in jobs[len(results):]]
                    return results
                message = receive.recv()
                if message[0] == "built":
                    built = True
                    continue
                if message[0] == "error":
                    raise WorkerError(message[1])
                results.append((message[1], time.perf_counter() - started))
                break
        return results
    except EOFError:
        raise WorkerError(f"the worker process ended unexpectedly (exit code {worker.exitcode})") from None
    finally:
        if worker.is_alive():
            worker.kill()
        worker.join()
        receive.close()


def _work(build, jobs, send) -> None:  # pragma: no cover - runs in the forked worker
    try:
        state = build()
        send.send(("built",))
        for _, job in jobs:
            send.send(("done", job(state)))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()


__all__ = ["WorkerError", "run"]
