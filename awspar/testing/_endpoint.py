"""What both local endpoints share: an aiohttp server run off the caller's thread, its counters,
and the faults that act on the connection itself (delay, stall, reset, truncated or paced body).

A :class:`LocalEndpoint` runs aiohttp's low-level server (no router, no middleware: every
request goes to one coroutine, which keeps the hot path short) on an event loop of its own, in a
background thread by default, or in a spawned child process with ``process=True`` so that a
benchmark client does not share the GIL with it. Either way it binds 127.0.0.1 on a free port
unless told otherwise, is a context manager, and stops its thread or process on ``stop()``;
a child process also exits when its parent dies.

Counters (``stats()``, and ``GET /_awspar/stats`` as JSON): ``requests``, ``operations`` by
name, ``statuses`` by HTTP status, ``faults`` served by kind, ``in_flight`` now,
``peak_in_flight``, ``cancellations`` (the client went away before its response was complete)
and ``completed``. ``reset_stats()`` / ``POST /_awspar/stats/reset`` zero them. The capacity
model (:mod:`awspar.testing.capacity`) is changed at run time with ``set_capacity()`` /
``POST /_awspar/capacity``; a request it refuses counts as the fault ``capacity``.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import multiprocessing
import socket
import struct
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterable
from typing import Any, ClassVar, Self

from aiohttp import web

from awspar.testing.capacity import Capacity, CapacityGate
from awspar.testing.faults import EndpointBehaviour, FaultPlanner, QuotaGate

__all__ = ["EndpointStats", "LocalEndpoint"]

_CHILD_START_TIMEOUT = 30.0
_SHUTDOWN_GRACE = 0.5


class EndpointStats:
    """Counters of one endpoint; mutated only on the endpoint's event loop."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.completed = 0
        self.cancellations = 0
        self.peak_in_flight = self.in_flight
        self.operations: collections.Counter[str] = collections.Counter()
        self.statuses: collections.Counter[int] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of every counter."""
        return {
            "requests": self.requests,
            "completed": self.completed,
            "cancellations": self.cancellations,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "operations": dict(self.operations),
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "faults": dict(self.faults),
        }


class LocalEndpoint:
    """Base of :class:`ObjectServer` and :class:`BedrockServer`; subclasses implement :meth:`handle`."""

    signing_name: ClassVar[str] = ""

    def __init__(
        self,
        *,
        behaviour: EndpointBehaviour | None = None,
        verify: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        process: bool = False,
    ) -> None:
        self.behaviour = behaviour or EndpointBehaviour()
        self.verify = verify
        self.host = host
        self.port = port
        self.process = process
        self._stats = EndpointStats()
        self._planner = FaultPlanner(self.behaviour)
        self._quota = QuotaGate(self.behaviour.quota)
        self._capacity = CapacityGate(self.behaviour.capacity)
        self.quiet = self.behaviour.quiet  # read on every request: computed once
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._child: Any = None
        self._conn: Any = None
        self._deliberate: set[int] = set()  # id() of requests whose connection we closed on purpose

    # -- life cycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if not self.running:
            raise RuntimeError(f"{type(self).__name__} is not running: start() it first")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None or self._child is not None

    def start(self) -> Self:
        """Bind and serve; returns once the port accepts connections."""
        if self.running:
            raise RuntimeError(f"{type(self).__name__} is already running")
        if self.process:
            self._start_child()
        else:
            self._start_thread()
        return self

    def stop(self) -> None:
        """Close every connection and stop the thread or process; safe to call twice."""
        if self._thread is not None:
            loop, thread = self._loop, self._thread
            assert loop is not None
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            self._thread = self._loop = None
        if self._child is not None:
            try:
                self._conn.send("stop")
            except OSError:
                pass
            self._child.join(10)
            if self._child.is_alive():
                self._child.terminate()
                self._child.join(5)
            self._conn.close()
            self._child = self._conn = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __getstate__(self) -> dict[str, Any]:
        """What a spawned child needs to serve: the settings, none of the runtime state."""
        state = self.__dict__.copy()
        state.update(_loop=None, _thread=None, _child=None, _conn=None, _deliberate=set(), process=False)
        return state

    # -- counters ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters (over HTTP when the server runs in a child process)."""
        if self._child is not None:
            with urllib.request.urlopen(self.url + "/_awspar/stats", timeout=10) as response:
                return dict(json.loads(response.read()))
        return self._on_loop(self._stats.snapshot)

    def reset_stats(self) -> None:
        """Zero the counters (``in_flight`` keeps counting what is still running)."""
        if self._child is not None:
            request = urllib.request.Request(self.url + "/_awspar/stats/reset", data=b"", method="POST")
            urllib.request.urlopen(request, timeout=10).close()
            return
        self._on_loop(self._stats.reset)

    def configure(self, behaviour: EndpointBehaviour) -> None:
        """Switch to another latency/fault behaviour (thread mode only; the draws start afresh)."""
        if self._child is not None:
            raise RuntimeError("configure() needs the server in this process; restart it in a child instead")

        def apply() -> None:
            self.behaviour = behaviour
            self.quiet = behaviour.quiet
            self._planner = FaultPlanner(behaviour)
            self._quota = QuotaGate(behaviour.quota)
            self._capacity.configure(behaviour.capacity)

        self._on_loop(apply) if self._loop is not None else apply()

    def set_capacity(self, capacity: Capacity | None) -> None:
        """Change the capacity model now, keeping what is in flight under it (works in a child
        process too, through ``POST /_awspar/capacity``): how a test steps capacity mid-run."""
        if self._child is not None:
            payload = json.dumps(None if capacity is None else dataclasses.asdict(capacity)).encode()
            request = urllib.request.Request(self.url + "/_awspar/capacity", data=payload, method="POST")
            urllib.request.urlopen(request, timeout=10).close()
            return

        def apply() -> None:
            self.behaviour = self.behaviour.replace(capacity=capacity)
            self._capacity.configure(capacity)

        self._on_loop(apply)

    def reset(self) -> None:
        """Well-behaved again, with zeroed counters: no latency, faults or quota (the draws start
        afresh) — what a test wants before and after it changes the behaviour (thread mode only)."""
        self.configure(EndpointBehaviour())
        self.reset_stats()

    def _on_loop(self, func: Any) -> Any:
        loop = self._loop
        if loop is None:
            return func()

        async def call() -> Any:
            return func()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(10)

    # -- for subclasses ---------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:  # pragma: no cover
        raise NotImplementedError

    def count(self, operation: str) -> None:
        """Count one call of ``operation`` (e.g. ``"GetObject"``)."""
        self._stats.operations[operation] += 1

    def count_fault(self, kind: str) -> None:
        self._stats.faults[kind] += 1

    def admit(self, scope: str) -> bool:
        """Whether the capacity model serves one more request of ``scope`` now (then call
        :meth:`leave` when it ends); a refusal counts as the fault ``capacity``."""
        if self._capacity.try_enter(scope):
            return True
        self.count_fault("capacity")
        return False

    def leave(self, scope: str) -> None:
        self._capacity.leave(scope)

    def decide(self, request: web.BaseRequest, key: str | None = None) -> Any:
        """This request's :class:`~awspar.testing.faults.Decision` (keyed on method and path)."""
        return self._planner.decide(key or f"{request.method} {request.path}")

    def close_connection(self, request: web.BaseRequest, *, reset: bool) -> None:
        """Close the connection under a request, with a TCP reset (RST) or a plain close (FIN);
        aiohttp then cancels the handler, which is not counted as a client cancellation."""
        self._deliberate.add(id(request))
        transport = request.transport
        if transport is None:
            return
        if reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()

    async def reset_and_wait(self, request: web.BaseRequest) -> web.StreamResponse:
        """Serve the ``reset`` fault: reset, then wait for aiohttp to cancel this handler."""
        self.count_fault("reset")
        self.close_connection(request, reset=True)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable: the reset connection cancels this handler")

    async def stream(
        self,
        request: web.BaseRequest,
        response: web.StreamResponse,
        chunks: Iterable[bytes] | AsyncIterator[bytes],
        *,
        truncate_after: int | None = None,
    ) -> web.StreamResponse:
        """Write ``chunks`` at the behaviour's body rate; with ``truncate_after``, close the
        connection after that many bytes (the headers promised more)."""
        rate = self.behaviour.body_rate
        sent = 0
        await response.prepare(request)
        try:
            async for chunk in _paced(chunks, rate):
                if truncate_after is not None and sent + len(chunk) >= truncate_after:
                    await response.write(chunk[: truncate_after - sent])
                    self.count_fault("truncate")
                    self.close_connection(request, reset=False)
                    await asyncio.sleep(3600)
                await response.write(chunk)
                sent += len(chunk)
            await response.write_eof()
        except ConnectionError:
            if id(request) not in self._deliberate:
                self._stats.cancellations += 1
                self._deliberate.add(id(request))  # counted once
        return response

    # -- serving ----------------------------------------------------------------------------

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path.startswith("/_awspar/"):
            return await self._control(request)
        stats = self._stats
        stats.requests += 1
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            response = await self.handle(request)
        except asyncio.CancelledError:
            if id(request) not in self._deliberate:
                stats.cancellations += 1
            raise
        finally:
            stats.in_flight -= 1
            cut_short = id(request) in self._deliberate
            self._deliberate.discard(id(request))
        stats.statuses[response.status] += 1
        if not cut_short:
            stats.completed += 1
        return response

    async def _control(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/_awspar/stats" and request.method == "GET":
            return web.Response(text=json.dumps(self._stats.snapshot()), content_type="application/json")
        if request.path == "/_awspar/stats/reset" and request.method == "POST":
            self._stats.reset()
            return web.Response(status=204)
        if request.path == "/_awspar/capacity" and request.method == "POST":
            return self._capacity_control(await request.content.read())
        return web.Response(status=404, text="unknown control path")

    def _capacity_control(self, body: bytes) -> web.StreamResponse:
        """``POST /_awspar/capacity`` with ``{"rate": ..., "concurrent": ..., "burst": ...}`` or
        ``null``: :meth:`set_capacity` for a server in a child process."""
        try:
            values = json.loads(body or b"null")
            capacity = None if values is None else Capacity(**values)
        except (ValueError, TypeError) as exc:
            return web.Response(status=400, text=f"bad capacity: {exc}")
        self.behaviour = self.behaviour.replace(capacity=capacity)
        self._capacity.configure(capacity)
        return web.Response(status=204)

    def _start_thread(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            web_server = web.Server(self._dispatch, handler_cancellation=True, access_log=None, loop=loop)
            try:
                server = loop.run_until_complete(
                    loop.create_server(web_server, self.host, self.port, reuse_address=True))
            except Exception as exc:  # noqa: BLE001 - reported to the caller of start()
                failure.append(exc)
                loop.close()
                ready.set()
                return
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            try:
                loop.run_forever()
            finally:
                server.close()
                loop.run_until_complete(web_server.shutdown(_SHUTDOWN_GRACE))
                loop.run_until_complete(server.wait_closed())
                for task in asyncio.all_tasks(loop):
                    task.cancel()
                loop.run_until_complete(asyncio.sleep(0))
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"awspar-{type(self).__name__}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = self._loop = None
            raise OSError(f"{type(self).__name__} could not bind {self.host}:{self.port}: {failure[0]}")

    def _start_child(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve_in_child, args=(self, child), daemon=True,
                                  name=f"awspar-{type(self).__name__}")
        process.start()
        child.close()
        if not parent.poll(_CHILD_START_TIMEOUT):
            process.terminate()
            process.join(5)
            parent.close()
            raise OSError(f"{type(self).__name__} child process did not start")
        status, value = parent.recv()
        if status != "ok":
            process.join(5)
            parent.close()
            raise OSError(f"{type(self).__name__} child process failed: {value}")
        self.port = value
        self._child, self._conn = process, parent


def _serve_in_child(endpoint: LocalEndpoint, conn: Any) -> None:
    """Child process body: serve until the parent says stop or goes away."""
    try:
        endpoint.start()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ok", endpoint.port))
    try:
        conn.recv()
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    finally:
        endpoint.stop()


async def _paced(chunks: Iterable[bytes] | AsyncIterator[bytes], rate: float | None) -> AsyncIterator[bytes]:
    """``chunks`` as they are, or at ``rate`` bytes/s: pieces of about 50 ms, each after its time."""
    if rate is None:
        async for chunk in _aiter(chunks):
            yield chunk
        return
    piece = max(1024, int(rate * 0.05))
    async for chunk in _aiter(chunks):
        for start in range(0, len(chunk), piece):
            part = chunk[start:start + piece]
            await asyncio.sleep(len(part) / rate)
            yield part


async def _aiter(chunks: Iterable[bytes] | AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if hasattr(chunks, "__aiter__"):
        async for chunk in chunks:  # type: ignore[union-attr]
            yield chunk
    else:
        for chunk in chunks:  # type: ignore[union-attr]
            yield chunk
