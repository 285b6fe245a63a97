"""A pool of isolated subinterpreters (each with its own GIL), reused for many tasks.

Each worker is one interpreter created with the *isolated* configuration, driven from its own
thread in the main interpreter, and running a long-lived serve loop that hands tasks to a few
threads of its own. Only plain data crosses: the main interpreter writes pickled
``(kind, task id, payload)`` frames into a pipe, the worker answers with pickled result frames on
another pipe. Pipes rather than the interpreter queues because a blocked ``os.read`` wakes the
moment a frame arrives (the queues of 3.13 can only be polled) and because they behave the same on
3.13 and 3.14.

What runs in the worker is a *service*: ``factory(*args)`` named as an importable
``"module:function"`` and built once per worker, with ``handle(payload, cancellation) -> result``
(a :class:`Cancellation` says when the task is abandoned and should be aborted) and ``close()``. An ``Exception`` from ``handle`` is
that task's answer; anything else that escapes (``SystemExit``, a failed start) kills the worker:
its tasks fail with :class:`~awspar._errors.WorkerCrashedError` and the next task gets a fresh one.

The version differences hide behind :class:`_Interpreter`: the private ``_interpreters`` module on
3.13, ``concurrent.interpreters`` on 3.14+. Python 3.12 and older get
:class:`~awspar._errors.EngineUnavailableError` (3.12's subinterpreters corrupt the heap when
they import ssl or hashlib).
"""

from __future__ import annotations

import atexit

# Two subinterpreters that import _datetime crash CPython 3.13.0 at exit unless the main
# interpreter imported it first; the HTTP stack of every worker imports it (email.utils).
import datetime  # noqa: F401
import os
import pickle
import struct
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, Self

from awspar._errors import EngineUnavailableError, WorkerCrashedError
from awspar._models import redact_url
from awspar.engines._attempts import load_callable

__all__ = [
    "MIN_VERSION",
    "Cancellation",
    "InterpreterPool",
    "Task",
    "load_callable",
    "require_subinterpreters",
]

#: The first Python whose subinterpreters awspar uses.
MIN_VERSION = (3, 13)

_HEADER = struct.Struct("!Q")
# Frame kinds, main -> worker.
_TASK, _CANCEL, _STOP = "task", "cancel", "stop"
# Frame kinds, worker -> main.
_READY, _RESULT, _CRASH = "ready", "result", "crash"


def require_subinterpreters() -> None:
    """Raise :class:`EngineUnavailableError` unless this Python runs isolated subinterpreters.

    The one version check, used by :func:`awspar.engines.engine_class` and by the engine itself;
    it imports nothing (``_interpreters`` is imported only when a worker starts)."""
    if sys.version_info < MIN_VERSION:
        raise EngineUnavailableError(
            "the subinterpreters engine needs Python 3.13 or newer "
            f"(this is Python {sys.version_info[0]}.{sys.version_info[1]}); "
            "use the 'threads' or 'processes' engine instead"
        )


# --- framing (both sides) -------------------------------------------------------------------


def _write_frame(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _frames(fd: int) -> Iterator[Any]:
    """The frames arriving on ``fd`` until end of file, read through a buffer so that a burst of
    small frames costs one system call rather than two each."""
    with open(fd, "rb", buffering=1 << 16, closefd=False) as stream:
        while len(header := stream.read(_HEADER.size)) == _HEADER.size:
            size = _HEADER.unpack(header)[0]
            data = stream.read(size)
            if len(data) < size:
                return
            yield pickle.loads(data)


# --- worker side: runs inside the subinterpreter --------------------------------------------


class Cancellation:
    """Handed to ``service.handle`` with each task; cancelled when the main interpreter abandons
    the task or the pool stops. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], object]] = []
        self.cancelled = False

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` when cancelled (at once if already)."""
        with self._lock:
            if not self.cancelled:
                self._callbacks.append(callback)
                return
        callback()

    def cancel(self) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


def _serve(boot: bytes) -> None:
    """The worker's main loop: read task frames, run them on ``threads`` threads, answer."""
    import queue

    inbox_fd, outbox_fd, factory, args, threads = pickle.loads(boot)
    service = load_callable(factory)(*args)
    inbox: queue.SimpleQueue[tuple[int, Any, Cancellation] | None] = queue.SimpleQueue()
    write_lock = threading.Lock()
    tasks: dict[int, Cancellation] = {}  # received and not yet answered

    def answer(frame: tuple[Any, ...]) -> None:
        with write_lock:
            _write_frame(outbox_fd, frame)

    def work() -> None:
        while (item := inbox.get()) is not None:
            task_id, payload, cancellation = item
            try:
                frame: tuple[Any, ...] = (_RESULT, task_id, True, service.handle(payload, cancellation))
            except Exception as exc:  # noqa: BLE001 - the task's own answer, sent back
                frame = (_RESULT, task_id, False, exc)
            except BaseException as exc:  # noqa: BLE001 - SystemExit and friends: this worker is done for
                answer((_CRASH, task_id, f"{type(exc).__name__}: {exc}"))
                return
            finally:
                tasks.pop(task_id, None)
            try:
                answer(frame)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                answer((_RESULT, task_id, False, WorkerCrashedError(f"result could not be sent back: {exc}")))

    pool = [threading.Thread(target=work, name=f"awspar-interp-{i}") for i in range(threads)]
    for thread in pool:
        thread.start()
    answer((_READY, 0, None))
    try:
        for kind, task_id, payload in _frames(inbox_fd):
            if kind == _STOP:
                break
            if kind == _TASK:
                tasks[task_id] = cancellation = Cancellation()
                inbox.put((task_id, payload, cancellation))
            elif kind == _CANCEL and (abandoned := tasks.get(task_id)) is not None:
                abandoned.cancel()
    finally:
        # Whoever stops the pool is done with it: what is still running or queued is aborted.
        for cancellation in list(tasks.values()):
            cancellation.cancel()
        for _ in pool:
            inbox.put(None)
        for thread in pool:
            thread.join()
        service.close()


# --- main side ------------------------------------------------------------------------------


class _Interpreter:
    """One isolated interpreter with its own GIL; hides the 3.13 / 3.14+ API differences."""

    def __init__(self) -> None:
        require_subinterpreters()
        try:
            from concurrent import interpreters  # type: ignore[attr-defined]  # 3.14+
        except ImportError:
            import _interpreters  # type: ignore[import-not-found]  # 3.13

            self._low: Any = _interpreters
            self._id = _interpreters.create(_interpreters.new_config("isolated"))
            self._high: Any = None
        else:
            self._high = interpreters.create()

    def run(self, code: str) -> str | None:
        """Run ``code`` to the end (blocking this thread); the uncaught error as text, or None."""
        if self._high is None:
            info = self._low.exec(self._id, code)
            return None if info is None else str(info.formatted)
        try:
            self._high.exec(code)
        except Exception as exc:  # noqa: BLE001 - concurrent.interpreters.ExecutionFailed, whatever it wraps
            info = getattr(exc, "excinfo", None)
            return str(getattr(info, "formatted", exc))
        return None

    def close(self) -> None:
        """Destroy the interpreter (it must not be running)."""
        if self._high is None:
            self._low.destroy(self._id)
        else:
            self._high.close()


class _Worker:
    """One interpreter, the thread that drives it, and the thread that reads its answers."""

    def __init__(self, name: str, factory: str, args: tuple[Any, ...], threads: int) -> None:
        self.pending: dict[int, Future[Any]] = {}
        self.crashed: str | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._ready = threading.Event()
        self._inbox_r, self._inbox_w = os.pipe()
        self._outbox_r, self._outbox_w = os.pipe()
        boot = pickle.dumps((self._inbox_r, self._outbox_w, factory, args, threads))
        self._code = (
            f"import sys\nsys.path[:] = {list(sys.path)!r}\n"
            f"from awspar.engines._interp_pool import _serve\n_serve({boot!r})\n"
        )
        self._interp = _Interpreter()
        self._driver = threading.Thread(target=self._drive, name=f"{name}-driver", daemon=True)
        self._reader = threading.Thread(target=self._read, name=f"{name}-reader", daemon=True)
        self._reader.start()
        self._driver.start()

    @property
    def alive(self) -> bool:
        return self.crashed is None and not self._stopping

    def wait_ready(self) -> None:
        """Block until the worker serves (or raise :class:`WorkerCrashedError` if it never will)."""
        self._ready.wait()
        if self.crashed is not None:
            raise WorkerCrashedError(f"a worker interpreter failed to start: {self.crashed}")

    def submit(self, task_id: int, payload: Any, future: Future[Any]) -> None:
        with self._lock:
            if not self.alive:
                raise WorkerCrashedError(f"the worker interpreter is gone: {self.crashed or 'stopped'}")
            self.pending[task_id] = future
            try:
                _write_frame(self._inbox_w, (_TASK, task_id, payload))
            except OSError as exc:  # the worker died and its end of the pipe is closed
                del self.pending[task_id]
                raise WorkerCrashedError(f"the worker interpreter is gone: {self.crashed or exc}") from None

    def cancel(self, task_id: int) -> None:
        """Ask the worker to abort the task (its future resolves when the worker lets go of it)."""
        with self._lock:
            if task_id in self.pending and self.alive:
                try:
                    _write_frame(self._inbox_w, (_CANCEL, task_id, None))
                except OSError:
                    pass

    def stop(self, wait: bool = True) -> None:
        """Ask the worker to finish (aborting what it still runs); wait until it has."""
        with self._lock:
            if not self._stopping:
                self._stopping = True
                try:
                    _write_frame(self._inbox_w, (_STOP, 0, None))
                except OSError:
                    pass
        if wait and threading.current_thread() not in (self._driver, self._reader):
            self._driver.join()
            self._reader.join()

    def _drive(self) -> None:
        error = self._interp.run(self._code)
        if error is not None:
            self._crash(redact_url(error.strip().splitlines()[-1]))
        os.close(self._inbox_r)  # a submit blocked on a full pipe now fails instead of hanging
        with self._lock:
            self._stopping = True
            os.close(self._inbox_w)
        try:
            self._interp.close()
        finally:
            os.close(self._outbox_w)  # wakes the reader with end of file

    def _read(self) -> None:
        try:
            for kind, task_id, *rest in _frames(self._outbox_r):
                if kind == _READY:
                    self._ready.set()
                elif kind == _CRASH:
                    self._crash(redact_url(rest[0]))
                    self.stop()
                else:
                    with self._lock:
                        future = self.pending.pop(task_id, None)
                    if future is not None and future.set_running_or_notify_cancel():
                        ok, value = rest
                        if ok:
                            future.set_result(value)
                        else:
                            future.set_exception(value)
        finally:
            os.close(self._outbox_r)
            self._crash("the worker interpreter stopped")

    def _crash(self, reason: str) -> None:
        """Fail every pending task with :class:`WorkerCrashedError`; the first reason sticks."""
        with self._lock:
            if self.crashed is None and not (self._stopping and reason == "the worker interpreter stopped"):
                self.crashed = reason
            pending, self.pending = self.pending, {}
        self._ready.set()
        for future in pending.values():
            if future.set_running_or_notify_cancel():
                future.set_exception(WorkerCrashedError(f"a worker interpreter crashed: {reason}"))


class Task(Future[Any]):
    """The future of one submitted task, with the worker that runs it."""

    def __init__(self, task_id: int, worker: _Worker) -> None:
        super().__init__()
        self.task_id = task_id
        self.worker = worker


_live_pools: weakref.WeakSet[InterpreterPool] = weakref.WeakSet()


@atexit.register
def _close_live_pools() -> None:
    # Interpreters still running at finalization would take the process down with them.
    for pool in list(_live_pools):
        pool.close()


class InterpreterPool:
    """``workers`` isolated interpreters, each running ``threads`` tasks at a time.

    ``factory`` names (``"module:function"``) what builds the service in each worker, called with
    ``args`` (plain data). :meth:`submit` returns a :class:`~concurrent.futures.Future` resolved in a
    reader thread; tasks go to the worker with the fewest pending ones, so a pool of ``w`` workers
    with ``threads = ceil(n / w)`` runs ``n`` tasks at once without queueing any. Use as a context manager or call
    :meth:`close`; pools still open at interpreter exit are closed then.
    """

    def __init__(self, factory: str, args: tuple[Any, ...] = (), *, workers: int, threads: int) -> None:
        require_subinterpreters()
        if workers < 1 or threads < 1:
            raise ValueError("workers and threads must be at least 1")
        self.factory, self.args, self.threads = factory, tuple(args), threads
        self._lock = threading.Lock()
        self._next_id = 0
        self._closed = False
        self._retired: list[_Worker] = []  # crashed workers that were replaced
        self._workers = [self._spawn(i) for i in range(workers)]
        _live_pools.add(self)
        try:
            for worker in self._workers:
                worker.wait_ready()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def workers(self) -> int:
        return len(self._workers)

    def submit(self, payload: Any) -> Task:
        """Run ``service.handle(payload, cancellation)`` in the least busy worker."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the interpreter pool is closed")
            self._next_id += 1
            slot, worker = min(enumerate(self._workers), key=lambda pair: len(pair[1].pending))
            if not worker.alive:  # a crashed worker is replaced by a fresh one
                # Not joined here: its reader may still be failing tasks, whose callbacks may
                # call back into this pool. close() joins it.
                worker.stop(wait=False)
                self._retired.append(worker)
                worker = self._workers[slot] = self._spawn(slot)
                worker.wait_ready()
            task = Task(self._next_id, worker)
            # Under the pool's lock, so that tasks submitted at once count against each other.
            worker.submit(task.task_id, payload, task)
        return task

    def cancel(self, task: Task) -> None:
        """Abandon a submitted task: the worker cancels its :class:`Cancellation`. The task's future
        still resolves, once the worker has let go of it, so that whoever counts tasks in flight
        counts this one until it really ends."""
        task.worker.cancel(task.task_id)

    def close(self) -> None:
        """Stop every worker (aborting what they still run) and destroy the interpreters."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for worker in [*self._workers, *self._retired]:
            worker.stop()
        _live_pools.discard(self)

    def _spawn(self, slot: int) -> _Worker:
        return _Worker(f"awspar-interp-{slot}", self.factory, self.args, self.threads)
