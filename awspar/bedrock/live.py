"""Streaming Bedrock calls decoded live on aiohttp: tokens reach the caller as they arrive, and a
race can be won on time to first token.

The engines hand back whole bodies; a streamed answer is worth reading chunk by chunk. This driver
sends the same signed requests on the async engine's aiohttp session, with the engines' own attempt
policy (:class:`~awspar.engines._attempts.RequestRun`: retries of throttling with backoff and
jitter, re-signing, spans), and feeds each chunk to a :class:`StreamDecoder`.

- ``race``: the first call to produce a text token leads; every other call is cancelled at that
  moment (its connection closed: it stops generating and is never retried) and the leader's
  tokens go to ``on_token`` as they arrive. If no call produces a token, the first to finish wins.
- ``first-valid``: answers are judged as they complete; the first accepted one wins, the others
  are cancelled, and its tokens are then handed to ``on_token``.
- ``all``: every call runs to its end.

A call that fails before its first token is retried like any request; once it has produced a
token it is not (the tokens are out), and a mid-stream error ends it.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Callable
from typing import Any

from awspar._errors import AwsparError, IncompleteBodyError, TransportError
from awspar._models import RawResponse, SignedRequest
from awspar.bedrock.answer import BedrockAnswer
from awspar.bedrock.run import Verdict
from awspar.bedrock.stream import StreamDecoder
from awspar.engines._attempts import Outcome, RequestRun, Resign, RunPolicy, describe_failure
from awspar.engines.aio import aiohttp_error, send_as_signed

__all__ = ["LiveStreams"]

#: Judges a finished answer: ``None`` to accept it, else the reason to reject it.
Judge = Callable[[BedrockAnswer], "str | None"]


class _Call:
    """One streamed call: its attempts, its decoder, when it started and when its first token came."""

    def __init__(self, index: int, request: SignedRequest, policy: RunPolicy, operation: str) -> None:
        self.run = RequestRun(index, request, policy)
        self.operation = operation
        self.decoder = StreamDecoder(operation)
        self.started: float | None = None
        self.first_token: float | None = None
        self.failure: BaseException | None = None
        self.raw: RawResponse | None = None

    @property
    def index(self) -> int:
        return self.run.index


class LiveStreams:
    """Runs streamed calls for one :func:`awspar.bedrock.invoke`; see the module docstring.

    ``engine`` is an :class:`~awspar.engines.aio.AsyncEngine`: its session settings (connection
    limit, timeouts, no automatic headers, no re-quoting of the signed URL) are the ones used.
    """

    def __init__(
        self,
        engine: Any,
        operation: str,
        strategy: str,
        judge: Judge,
        on_token: Callable[[str], object] | None,
        resign: Resign | None,
    ) -> None:
        import aiohttp

        self._engine = engine
        self._aiohttp = aiohttp
        self._operation = operation
        self._strategy = strategy
        self._judge = judge
        self._on_token = on_token
        self._policy = RunPolicy.for_run(engine.config, resign, hedging=False)
        self._leader: int | None = None
        self._tasks: dict[int, asyncio.Task[_Call]] = {}
        self._calls: list[_Call] = []
        #: the record of each call stopped because another won, taken when it was stopped
        self._stopped: dict[int, RawResponse] = {}

    async def run(self, requests: list[SignedRequest]) -> tuple[list[Verdict], int | None, float]:
        """Every call's verdict in input order, the winner's index, and the seconds until it won."""
        began = time.perf_counter()
        calls = self._calls = [
            _Call(index, request, self._policy, self._operation) for index, request in enumerate(requests)
        ]
        verdicts: dict[int, Verdict] = {}
        winner: int | None = None
        async with self._engine.session() as session:
            sender = self._engine.sender(session)
            self._tasks = {  # named by index, so that calls ending together are judged in input order
                call.index: asyncio.create_task(self._drive(sender, session, call), name=f"{call.index:08d}")
                for call in calls
            }
            pending: set[asyncio.Task[_Call]] = set(self._tasks.values())
            try:
                while pending and winner is None:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in sorted(done, key=lambda t: t.get_name()):
                        if task.cancelled():
                            continue
                        call = task.result()
                        verdict = verdicts[call.index] = self._verdict(call)
                        if winner is None and self._may_win(verdict):
                            winner = call.index
                elapsed = time.perf_counter() - began
            finally:
                self._stop_all_but(None)
                await asyncio.gather(*pending, return_exceptions=True)
        for call in calls:
            if call.index not in verdicts:
                raw = self._stopped.get(call.index) or call.run.cancelled()
                verdicts[call.index] = Verdict(raw, error=raw.error)
        if winner is not None and self._strategy == "first-valid":
            self._emit(calls[winner].decoder.builder.tokens)
        return [verdicts[i] for i in range(len(calls))], winner, elapsed

    def _may_win(self, verdict: Verdict) -> bool:
        if self._strategy == "all" or not verdict.accepted:
            return False
        return self._leader is None or self._leader == verdict.raw.index

    async def _drive(self, sender: Any, session: Any, call: _Call) -> _Call:
        """The call's attempts, backoffs and re-signing: the async engine's own loop, with an
        attempt that decodes the stream as it arrives."""
        call.raw = await sender.drive(call.run, lambda request: self._attempt(session, call, request))
        return call

    async def _attempt(self, session: Any, call: _Call, request: SignedRequest) -> Outcome:
        """One attempt; a 200 body is decoded chunk by chunk as it arrives."""
        aiohttp = self._aiohttp
        start = time.perf_counter()
        call.started = call.started or start
        call.decoder = StreamDecoder(self._operation)
        method, url = request.method, request.url
        try:
            async with send_as_signed(session, request) as response:
                first_byte = time.perf_counter()
                headers = dict(response.headers)
                if response.status != 200:
                    body = await response.read()
                    return Outcome(
                        start, time.perf_counter(), response.status, headers, body, None, first_byte
                    )
                try:
                    async for chunk in response.content.iter_any():
                        self._take(call, call.decoder.feed(chunk))
                except AwsparError as exc:  # an exception event or corrupt framing mid-stream
                    if call.first_token is None and isinstance(exc, TransportError):
                        raise
                    call.failure = exc
                except (aiohttp.ClientError, OSError, builtins.TimeoutError) as exc:
                    if call.first_token is None:
                        raise
                    call.failure = IncompleteBodyError(describe_failure(method, url, "stream broken", exc))
                return Outcome(start, time.perf_counter(), 200, headers, b"", None, first_byte)
        except AwsparError as exc:
            error: AwsparError = type(exc)(describe_failure(method, url, "bad stream", exc))
        except Exception as exc:
            mapped = aiohttp_error(method, url, exc)
            if mapped is None:
                raise
            error = mapped
        return Outcome.failed(start, error)

    def _take(self, call: _Call, tokens: list[str]) -> None:
        """New tokens of ``call``: the first one may make it the race's leader."""
        if not tokens:
            return
        if call.first_token is None:
            call.first_token = time.perf_counter()
        if self._strategy == "race" and self._leader is None:
            self._leader = call.index
            self._stop_all_but(call.index)
            self._emit(call.decoder.builder.tokens)
        elif self._leader == call.index:
            self._emit(tokens)

    def _stop_all_but(self, keep: int | None) -> None:
        """Cancel every unfinished call but ``keep``, noting how long each had run."""
        now = time.perf_counter()
        for index, task in self._tasks.items():
            if index != keep and not task.done() and index not in self._stopped:
                self._stopped[index] = self._calls[index].run.cancelled(now)
                task.cancel()

    def _emit(self, tokens: list[str]) -> None:
        if self._on_token is not None:
            for token in tokens:
                self._on_token(token)

    def _verdict(self, call: _Call) -> Verdict:
        """The call's answer, error, or rejection, once it has ended."""
        from awspar.parsing import parse_response

        raw = call.raw
        assert raw is not None
        try:
            if not raw.ok:
                parse_response(raw)  # raises the transport or service error
            if call.failure is not None:
                return Verdict(raw, error=call.failure)
            first_token = (
                None if call.first_token is None or call.started is None else call.first_token - call.started
            )
            answer = call.decoder.finish(
                index=call.index, latency=raw.elapsed or None, first_token=first_token
            )
        except Exception as exc:
            return Verdict(raw, error=exc)
        return Verdict(raw, answer=answer, rejected=self._judge(answer))
