"""Decode untrusted files in long-lived worker processes with a time and a memory limit.

A small pool of our own over ``multiprocessing`` (``forkserver`` by default, ``spawn``
where that is unavailable), one pipe per worker. ``ProcessPoolExecutor`` cannot cancel a
running task and breaks entirely when one worker dies, so instead:

- each worker sets ``RLIMIT_AS`` (memory) and ``RLIMIT_CORE = 0`` (no core dumps holding
  patient data) and then serves tasks one at a time, for many tasks (the cold import of
  pydicom + numpy + Pillow costs ~0.26 s; the forkserver preloads them once);
- the parent waits for the answer with a deadline; on expiry it kills that worker
  (SIGKILL) and starts a replacement: the call fails with ``Reason.TIMEOUT``;
- a worker that dies (segfault, abort, OOM kill) fails the call with ``CRASHED`` (or
  ``TOO_LARGE`` when killed by SIGKILL, the OOM killer's signal) and is replaced;
- inside the worker every exception becomes a classified answer: ``ImagingError`` keeps
  its reason, ``MemoryError`` is ``TOO_LARGE``, anything else ``CRASHED`` with only the
  exception's type name (messages may quote file content). No traceback ever crosses.

Use it synchronously (``pool.call(func, *args)``) or from asyncio
(``await pool.run(func, *args)``); ``func`` must be importable (module-level).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import logging
import multiprocessing
import os
import queue
import resource
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar, cast

from bot.imaging.errors import ImagingError, Reason

__all__ = ["WorkerLimits", "WorkerPool", "get_default_pool"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: modules imported once by the forkserver, so every worker starts warm
DEFAULT_PRELOAD = ("numpy", "PIL.Image", "pydicom", "bot.imaging.intake")


@dataclass(frozen=True)
class WorkerLimits:
    """Per-task wall-clock limit, per-worker address-space limit, tasks before recycling."""

    timeout_s: float = 60.0
    memory_bytes: int | None = 3 * 1024 * 1024 * 1024
    max_tasks_per_worker: int = 500
    start_timeout_s: float = 30.0


def _set_limits(memory_bytes: int | None) -> None:
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_bytes:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _answer(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple:
    try:
        return ("ok", func(*args, **kwargs))
    except ImagingError as exc:
        return ("err", exc.reason.value, exc.detail)
    except MemoryError:
        return ("err", Reason.TOO_LARGE.value, "out of memory")
    except RecursionError:
        return ("err", Reason.CORRUPT.value, "structure nested too deeply")
    except Exception as exc:
        return ("err", Reason.CRASHED.value, type(exc).__name__)
    except BaseException as exc:  # e.g. a Rust decoder panic (PyO3 PanicException), SystemExit
        return ("fatal", Reason.CRASHED.value, type(exc).__name__)


def _worker_main(conn: Connection, memory_bytes: int | None, preload: tuple[str, ...]) -> None:
    """Worker loop: receive ``(func, args, kwargs)``, send a classified answer; ``None`` stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    _set_limits(memory_bytes)
    for name in preload:
        with contextlib.suppress(Exception):
            __import__(name)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        except MemoryError:
            conn.send(("err", Reason.TOO_LARGE.value, "task too large"))
            continue
        except Exception as exc:  # unpicklable task
            conn.send(("err", Reason.CRASHED.value, type(exc).__name__))
            continue
        if message is None:
            return
        answer = _answer(*message)
        del message
        if answer[0] == "fatal":  # answer, then leave: the pool starts a fresh worker
            conn.send(("err", *answer[1:]))
            return
        try:
            conn.send(answer)
        except MemoryError:
            conn.send(("err", Reason.TOO_LARGE.value, "result too large"))
        except Exception as exc:  # unpicklable result
            conn.send(
                ("err", Reason.CRASHED.value, f"result not transferable: {type(exc).__name__}")
            )


class _Worker:
    def __init__(self, ctx: Any, limits: WorkerLimits, preload: tuple[str, ...]) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=_worker_main,
            args=(child, limits.memory_bytes, preload),
            daemon=True,
            name="sampark-imaging-worker",
        )
        try:
            self.process.start()
        except Exception as exc:  # e.g. EAGAIN: too many processes
            child.close()
            parent.close()
            raise ImagingError(
                Reason.CRASHED, f"worker not started: {type(exc).__name__}"
            ) from None
        child.close()
        self.conn: Connection = parent
        self.tasks = 0
        if not parent.poll(limits.start_timeout_s):
            self.kill()
            raise ImagingError(Reason.CRASHED, "worker did not start")
        try:
            _, self.pid = parent.recv()
        except (EOFError, OSError):
            self.kill()
            raise ImagingError(Reason.CRASHED, "worker did not start") from None

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.join(5)
        with contextlib.suppress(Exception):
            self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.send(None)
        with contextlib.suppress(Exception):
            self.process.join(2)
        if self.process.is_alive():
            self.kill()
        with contextlib.suppress(Exception):
            self.conn.close()

    def death_reason(self) -> ImagingError:
        with contextlib.suppress(Exception):
            self.process.join(2)
        code = self.process.exitcode
        if code == -signal.SIGKILL:
            return ImagingError(Reason.TOO_LARGE, "worker killed (out of memory?)")
        return ImagingError(Reason.CRASHED, f"worker died (exit code {code})")


def _default_start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


class WorkerPool:
    """A fixed number of reusable worker processes; see the module docstring."""

    def __init__(
        self,
        size: int = 2,
        limits: WorkerLimits | None = None,
        *,
        start_method: str | None = None,
        preload: Iterable[str] = DEFAULT_PRELOAD,
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.limits = limits or WorkerLimits()
        self.preload = tuple(preload)
        method = start_method or _default_start_method()
        self._ctx = multiprocessing.get_context(method)
        if method == "forkserver":
            self._ctx.set_forkserver_preload(list(self.preload))
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._executor: ThreadPoolExecutor | None = None
        self.replaced = 0

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> WorkerPool:
        """Start the workers now (otherwise the first call does)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("pool is closed")
            if not self._started:
                for _ in range(self.size):
                    self._idle.put(self._spawn())
                self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="imaging")
                self._started = True
        return self

    def close(self) -> None:
        """Stop idle workers; busy ones are stopped when their task ends."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                break
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        return _Worker(self._ctx, self.limits, self.preload)

    def _replace(self, worker: _Worker | None) -> None:
        if worker is not None:
            worker.kill()
        self.replaced += 1
        if self._closed:
            return
        try:
            self._idle.put(self._spawn())
        except ImagingError:
            log.error("imaging worker could not be restarted")
            # keep capacity: try again on the next call
            self._idle.put(_LazyWorker(self))  # type: ignore[arg-type]

    def _release(self, worker: _Worker) -> None:
        worker.tasks += 1
        if self._closed:
            worker.stop()
        elif worker.tasks >= self.limits.max_tasks_per_worker:
            worker.stop()
            self._replace(None)
        else:
            self._idle.put(worker)

    def _acquire(self) -> _Worker:
        if not self._started:
            self.start()
        while True:
            if self._closed:  # checked while waiting too: close() must not strand callers
                raise ImagingError(Reason.CRASHED, "worker pool is closed")
            try:
                worker = self._idle.get(timeout=0.5)
            except queue.Empty:
                continue
            if isinstance(worker, _LazyWorker):
                try:
                    return self._spawn()
                except ImagingError:
                    self._idle.put(worker)  # keep the slot for a later attempt
                    raise
            if worker.process.is_alive():
                return worker
            self._replace(worker)  # died while idle (killed, OOM): start a fresh one

    # calls -----------------------------------------------------------------------------
    def call(
        self, func: Callable[..., T], *args: Any, time_limit: float | None = None, **kwargs: Any
    ) -> T:
        """Run ``func(*args, **kwargs)`` in a worker; raise :class:`ImagingError` on failure."""
        deadline = self.limits.timeout_s if time_limit is None else time_limit
        message = (func, args, kwargs)
        worker = self._acquire()
        try:
            worker.conn.send(message)
        except (BrokenPipeError, EOFError, OSError):
            # died while idle: replace it and retry once on a fresh worker
            self._replace(worker)
            worker = self._acquire()
            try:
                worker.conn.send(message)
            except (BrokenPipeError, EOFError, OSError):
                self._replace(worker)
                raise ImagingError(Reason.CRASHED, "worker unavailable") from None
        except BaseException:
            self._replace(worker)  # e.g. the arguments could not be pickled
            raise
        answer = self._answer(worker, deadline)
        if answer[0] == "ok":
            return cast(T, answer[1])
        _, reason, detail = answer
        raise ImagingError(Reason(reason), detail)

    def _answer(self, worker: _Worker, deadline: float) -> tuple[Any, ...]:
        """Wait for the worker's answer; on any failure the worker is replaced."""
        try:
            ready = worker.conn.poll(deadline)
        except BaseException:
            self._replace(worker)
            raise
        if not ready:
            self._replace(worker)
            raise ImagingError(Reason.TIMEOUT, f"no answer within {deadline:g} s")
        try:
            answer = worker.conn.recv()
        except (EOFError, OSError):
            error = worker.death_reason()
            self._replace(worker)
            raise error from None
        except MemoryError:
            self._replace(worker)
            raise ImagingError(Reason.TOO_LARGE, "result too large") from None
        except Exception as exc:
            self._release(worker)  # the worker is fine; its answer did not unpickle here
            raise ImagingError(Reason.CRASHED, f"bad answer: {type(exc).__name__}") from None
        except BaseException:
            self._replace(worker)  # interrupted mid-message: the pipe state is unknown
            raise
        self._release(worker)
        return cast(tuple[Any, ...], answer)

    async def run(
        self, func: Callable[..., T], *args: Any, time_limit: float | None = None, **kwargs: Any
    ) -> T:
        """``await`` version of :meth:`call`; the event loop is never blocked."""
        if not self._started:
            await asyncio.to_thread(self.start)
        loop = asyncio.get_running_loop()
        call = functools.partial(self.call, func, *args, time_limit=time_limit, **kwargs)
        return await loop.run_in_executor(self._executor, call)

    def pids(self) -> list[int]:
        """PIDs of the idle workers (for tests and health checks)."""
        workers: list[_Worker] = []
        while True:
            try:
                workers.append(self._idle.get_nowait())
            except queue.Empty:
                break
        for worker in workers:
            self._idle.put(worker)
        return [w.pid for w in workers if isinstance(w, _Worker)]


class _LazyWorker:
    """Placeholder for a worker that failed to start; the next acquire retries."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool


_default: WorkerPool | None = None
_default_lock = threading.Lock()


def get_default_pool(size: int | None = None, limits: WorkerLimits | None = None) -> WorkerPool:
    """The process-wide pool (created on first use, closed at exit)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = WorkerPool(size or max(1, min(4, os.cpu_count() or 1)), limits)
            atexit.register(_default.close)
        return _default
