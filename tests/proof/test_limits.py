"""Time limits that hold: a worker process is killed when an obligation runs over."""

import re
import time

import pytest

import symbn
from symbn.proof import limits
from symbn.proof.report import UNKNOWN

from ..files import BATCHNORM


def _timed_out(key, seconds, building):
    return ("timed out", key, building)


def test_each_job_reports_its_own_result_in_order():
    jobs = [(k, lambda state, k=k: state + k) for k in range(4)]
    done = limits.run(lambda: 10, jobs, 5.0, _timed_out)
    assert [r for r, _ in done] == [10, 11, 12, 13]


def test_a_job_that_runs_over_is_cut_and_the_rest_still_run():
    jobs = [("fast", lambda s: 1), ("slow", lambda s: time.sleep(30)), ("after", lambda s: 3)]
    started = time.perf_counter()
    done = limits.run(lambda: None, jobs, 1.0, _timed_out)
    assert [r for r, _ in done] == [1, ("timed out", "slow", False), 3]
    assert time.perf_counter() - started < 5


def test_building_that_runs_over_times_out_every_job():
    done = limits.run(lambda: time.sleep(30), [("a", lambda s: 1), ("b", lambda s: 2)], 0.5, _timed_out)
    assert [r for r, _ in done] == [("timed out", "a", True), ("timed out", "b", True)]


def test_with_skipped_the_first_job_out_of_time_ends_the_run():
    jobs = [("fast", lambda s: 1), ("slow", lambda s: time.sleep(30)), ("after", lambda s: 3)]
    started = time.perf_counter()
    done = limits.run(lambda: None, jobs, 1.0, _timed_out, skipped=lambda key: ("not tried", key))
    assert [r for r, _ in done] == [1, ("timed out", "slow", False), ("not tried", "after")]
    assert done[2][1] == 0.0 and time.perf_counter() - started < 5


def test_with_skipped_a_build_out_of_time_tries_nothing():
    done = limits.run(lambda: time.sleep(30), [("a", lambda s: 1), ("b", lambda s: 2)], 0.5, _timed_out,
                      skipped=lambda key: ("not tried", key))
    assert [r for r, _ in done] == [("timed out", "a", True), ("not tried", "b")]


def test_an_exception_in_the_worker_is_a_worker_error():
    with pytest.raises(limits.WorkerError, match="ZeroDivisionError"):
        limits.run(lambda: 0, [("a", lambda s: 1 / s)], 5.0, _timed_out)


def test_without_a_limit_jobs_run_here():
    done = limits.run(list, [("a", lambda s: s.append(1) or s)], None, _timed_out)
    assert done[0][0] == [1]


def test_a_job_stuck_in_c_code_is_killed_within_ten_percent():
    """sum(range(...)) is one C call: no alarm interrupts it, so the parent kills the worker."""
    jobs = [("stuck", lambda s: sum(range(10**12))), ("after", lambda s: 2)]
    started = time.perf_counter()
    done = limits.run(lambda: None, jobs, 1.0, _timed_out)
    assert [r for r, _ in done] == [("timed out", "stuck", False), 2]
    assert done[0][1] < 1.0 * 1.1 + 0.05 and time.perf_counter() - started < 3


def test_the_time_limit_holds_within_ten_percent_on_long_obligations():
    """N = 300 in explicit symbols: each obligation is charged its own time, none beyond 1.1 x the limit;
    at one N, the first that runs out of time ends the run (the rest are not tried, and say so)."""
    layer = symbn.load(BATCHNORM)
    proof = symbn.prove(layer, n=300, time_limit=1.0, wrt=("x",))
    assert UNKNOWN in {r.verdict for r in proof.results}
    assert all(r.seconds <= 1.1 + 0.05 for r in proof.results), [r.seconds for r in proof.results]
    tried = [r for r in proof.results if r.verdict == UNKNOWN and r.tried]
    assert len(tried) == 1 and re.search(r"time limit of 1 s reached on (this obligation|building the problem) at "
                                         r"N = 300", tried[0].detail)
    assert all("ran out of the time limit of 1 s at N = 300" in r.detail for r in proof.results if not r.tried)


def test_an_explanation_that_overruns_is_abandoned_and_the_verdict_kept():
    """spare(): the block gets part of the job's time; when that runs out, the job goes on."""
    from symbn.proof.limits import spare

    def job(state):
        out = ["verdict"]
        with spare(0.5):
            time.sleep(10)
            out.append("explained")  # never reached
        return out

    ((result, seconds),) = limits.run(lambda: None, [("k", job)], 1.0, lambda key, s, b: "timed out")
    assert result == ["verdict"] and seconds < 1.0
