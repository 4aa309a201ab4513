"""Time limits that hold: obligations run in a worker process, stopped when an obligation's time is up.

The jobs of one command run, in order, in one forked worker that first builds their
shared state (the routes, the normal forms) and then reports each job's result as
it finishes.  A job gets ``limit`` seconds: an alarm in the worker stops it then
(its result is "timed out", and the worker goes on with the state it has built);
a SymPy or FLINT call that runs on inside C code, where no alarm interrupts it, is
ended by the parent killing the worker at 1.1 × ``limit``, and a new worker takes
the remaining jobs.  Building the state gets ``limit`` seconds of its own; if it
cannot be built in time, every job is reported so.  Given ``skipped``, the first job
that runs out of time ends the run and the jobs after it are reported as not tried (the
prover does so at one explicit N, where one obligation out of time says the rest would be).

Without a limit (or where ``fork`` is missing) the jobs run in this process.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

S = TypeVar("S")
R = TypeVar("R")
HARD = 1.1  # the parent kills a worker that overruns the limit by this factor


class WorkerError(RuntimeError):
    """A job raised an exception in the worker: a bug, reported with the worker's traceback."""


class _Alarm(BaseException):  # not an Exception: no library's "except Exception" swallows it
    pass


def run(
    build: Callable[[], S],
    jobs: Sequence[tuple[Any, Callable[[S], R]]],
    limit: float | None,
    timed_out: Callable[[Any, float, bool], R],
    skipped: Callable[[Any], R] | None = None,
) -> list[tuple[R, float]]:
    """(result, seconds) of each job, in order, each charged its own time.
    ``timed_out(key, seconds, while_building)`` stands in for a job that ran out of time.
    ``skipped(key)``: once one job has run out of time, the jobs after it are not run but
    reported so (with 0 s), for work where the first to time out tells that the rest would."""
    if not limit or "fork" not in multiprocessing.get_all_start_methods():
        return list(_in_process(build, jobs))
    results: list[tuple[R, float]] = []
    remaining = list(jobs)
    while remaining:
        done, ran_out = _one_worker(build, remaining, limit, timed_out, stop=skipped is not None)
        results += done
        remaining = remaining[len(done):]
        if skipped is not None and ran_out and remaining:
            results += [(skipped(key), 0.0) for key, _ in remaining]
            break
    return results


def _in_process(build, jobs):
    state = build()
    for _, job in jobs:
        started = time.perf_counter()
        result = job(state)
        yield result, time.perf_counter() - started


def _one_worker(build, jobs, limit: float, timed_out, stop: bool = False) -> tuple[list, bool]:
    """Run jobs in one worker until they are done or one overruns beyond what an alarm can stop
    (``stop``: or until one runs out of time at all).  Returns the results and whether the last
    one ran out of time."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_work, args=(build, jobs, limit, timed_out, send), daemon=True)
    with warnings.catch_warnings():  # JAX (imported by a caller) warns at every fork; the worker never runs JAX
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        worker.start()
    send.close()
    results: list = []
    try:
        if not receive.poll(HARD * limit):  # building the state: nothing can be done without it
            if stop:
                return [(timed_out(jobs[0][0], limit, True), limit)], True
            return [(timed_out(key, limit if k == 0 else 0.0, True), limit if k == 0 else 0.0)
                    for k, (key, _) in enumerate(jobs)], True
        _expect(receive.recv(), "built")
        for key, _ in jobs:
            started = time.perf_counter()
            if not receive.poll(HARD * limit):
                elapsed = time.perf_counter() - started
                results.append((timed_out(key, elapsed, False), elapsed))
                return results, True
            message = _expect(receive.recv(), "done")
            results.append((message[1], message[2]))
            if stop and message[3]:
                return results, True
        return results, False
    except EOFError:
        raise WorkerError(f"the worker process ended unexpectedly (exit code {worker.exitcode})") from None
    finally:
        if worker.is_alive():
            worker.kill()
        worker.join()
        receive.close()


def _expect(message, kind: str):
    if message[0] == "error":
        raise WorkerError(message[1])
    assert message[0] == kind, message
    return message


def _work(build, jobs, limit, timed_out, send) -> None:  # pragma: no cover - runs in the forked worker
    def alarm(signum, frame):
        raise _Alarm

    try:
        state = build()
        send.send(("built",))
        signal.signal(signal.SIGALRM, alarm)
        for key, job in jobs:
            started = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, limit)
            ran_out = False
            try:
                result = job(state)
            except _Alarm:
                result, ran_out = timed_out(key, time.perf_counter() - started, False), True
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            send.send(("done", result, time.perf_counter() - started, ran_out))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()


__all__ = ["WorkerError", "run"]
