"""Worker pool: reuse, timeouts, crashes, memory limit, classified errors, asyncio."""

from __future__ import annotations

import asyncio
import ctypes
import os
import time
from collections.abc import Iterator

import pytest

from bot.imaging.errors import ImagingError, Reason
from bot.imaging.worker import WorkerLimits, WorkerPool

# --- tasks (module level: the worker imports them by name) ---------------------------


def echo(value: object) -> object:
    return value


def pid() -> int:
    return os.getpid()


def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


def segfault() -> None:
    ctypes.string_at(0)


def hard_exit() -> None:
    os._exit(3)


def allocate(n_bytes: int) -> int:
    block = bytearray(n_bytes)
    return len(block)


def raise_imaging() -> None:
    raise ImagingError(Reason.CORRUPT, "bad frame")


def raise_value() -> None:
    raise ValueError("Patient Ramesh Sharma, DOB 1961-04-12")


def unpicklable() -> object:
    return lambda: None


def deep_recursion(n: int = 0) -> int:
    return deep_recursion(n + 1)


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    limits = WorkerLimits(timeout_s=10, memory_bytes=1024 * 1024 * 1024, max_tasks_per_worker=1000)
    with WorkerPool(2, limits) as p:
        yield p


def _reason(pool: WorkerPool, func: object, *args: object, **kwargs: object) -> Reason:
    with pytest.raises(ImagingError) as info:
        pool.call(func, *args, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def test_call_and_reuse(pool: WorkerPool) -> None:
    assert pool.call(echo, {"a": b"x" * 10}) == {"a": b"x" * 10}
    pids = {pool.call(pid) for _ in range(20)}
    assert len(pids) <= 2
    assert os.getpid() not in pids


def test_overhead_per_call_is_small(pool: WorkerPool) -> None:
    pool.call(echo, 1)
    start = time.perf_counter()
    for _ in range(50):
        pool.call(echo, 1)
    per_call = (time.perf_counter() - start) / 50
    print(f"worker round trip: {per_call * 1000:.2f} ms")
    assert per_call < 0.05


def test_large_payload_round_trip(pool: WorkerPool) -> None:
    data = os.urandom(20 * 1024 * 1024)
    assert pool.call(echo, data) == data


def test_timeout_kills_and_replaces(pool: WorkerPool) -> None:
    before = pool.replaced
    start = time.perf_counter()
    assert _reason(pool, sleep, 30, time_limit=0.5) is Reason.TIMEOUT
    assert time.perf_counter() - start < 10
    assert pool.replaced == before + 1
    # the pool still serves both slots
    assert pool.call(sleep, 0, time_limit=5) == "done"
    assert len({pool.call(pid) for _ in range(10)}) >= 1


def test_segfault_is_crashed(pool: WorkerPool) -> None:
    assert _reason(pool, segfault) is Reason.CRASHED
    assert pool.call(echo, 2) == 2


def test_exit_is_crashed(pool: WorkerPool) -> None:
    assert _reason(pool, hard_exit) is Reason.CRASHED
    assert pool.call(echo, 3) == 3


def test_memory_limit_is_too_large(pool: WorkerPool) -> None:
    assert _reason(pool, allocate, 4 * 1024 * 1024 * 1024) is Reason.TOO_LARGE
    assert pool.call(allocate, 10 * 1024 * 1024) == 10 * 1024 * 1024


def test_errors_are_classified_without_patient_data(pool: WorkerPool) -> None:
    with pytest.raises(ImagingError) as info:
        pool.call(raise_imaging)
    assert info.value.reason is Reason.CORRUPT
    assert info.value.detail == "bad frame"
    with pytest.raises(ImagingError) as info:
        pool.call(raise_value)
    assert info.value.reason is Reason.CRASHED
    assert "Ramesh" not in str(info.value)
    assert info.value.__cause__ is None
    assert _reason(pool, unpicklable) is Reason.CRASHED
    assert _reason(pool, deep_recursion) is Reason.CORRUPT


def test_worker_killed_while_idle_is_replaced(pool: WorkerPool) -> None:
    for worker_pid in pool.pids():
        os.kill(worker_pid, 9)
    time.sleep(0.2)
    assert pool.call(echo, 5) == 5
    assert pool.call(echo, 6) == 6


def test_recycling_after_max_tasks() -> None:
    with WorkerPool(1, WorkerLimits(max_tasks_per_worker=3)) as small:
        pids = [small.call(pid) for _ in range(7)]
    assert len(set(pids)) == 3


async def test_async_run_concurrently(pool: WorkerPool) -> None:
    start = time.perf_counter()
    results = await asyncio.gather(pool.run(sleep, 0.5), pool.run(sleep, 0.5))
    assert results == ["done", "done"]
    assert time.perf_counter() - start < 1.5  # two workers in parallel
    with pytest.raises(ImagingError) as info:
        await pool.run(sleep, 5, time_limit=0.3)
    assert info.value.reason is Reason.TIMEOUT


def test_closed_pool_refuses() -> None:
    p = WorkerPool(1).start()
    p.close()
    with pytest.raises((ImagingError, RuntimeError)):
        p.call(echo, 1)


def test_close_releases_waiting_callers() -> None:
    import threading

    p = WorkerPool(1).start()
    outcomes: dict[str, object] = {}

    def busy() -> None:
        outcomes["busy"] = p.call(sleep, 1.0)

    def waiting() -> None:
        try:
            outcomes["waiting"] = p.call(echo, 1)
        except ImagingError as exc:
            outcomes["waiting"] = exc.reason

    first = threading.Thread(target=busy)
    first.start()
    time.sleep(0.2)
    second = threading.Thread(target=waiting)
    second.start()
    time.sleep(0.2)
    p.close()
    second.join(5)
    first.join(5)
    assert not second.is_alive()
    assert outcomes["waiting"] is Reason.CRASHED
    assert outcomes["busy"] == "done"


class _Panic(BaseException):
    """Stands in for a native decoder's panic (PyO3 PanicException derives from BaseException)."""


def panic() -> None:
    raise _Panic("Rust panic inside a decoder")


def exit_call() -> None:
    raise SystemExit(3)


def test_base_exceptions_are_classified_and_the_worker_replaced(pool: WorkerPool) -> None:
    assert _reason(pool, panic) is Reason.CRASHED
    assert _reason(pool, exit_call) is Reason.CRASHED
    assert pool.call(echo, 7) == 7
    assert pool.call(echo, 8) == 8
