"""Amazon Bedrock in parallel: the same prompt N times (or N prompts), kept all, raced, or the first
valid answer, through any engine. Sync :func:`invoke` and its awaitable twin :func:`ainvoke`.

>>> from awspar import bedrock
>>> run = bedrock.invoke("Summarise: ...", n=3, strategy="race")  # doctest: +SKIP
>>> print(run.text, run.winner.latency)  # doctest: +SKIP
>>> run = bedrock.invoke("Reply in JSON: ...", n=3, strategy="first-valid", validator="json")  # doctest: +SKIP

- ``strategy="all"``: every answer, in input order (:attr:`BedrockRun.answers`).
- ``strategy="race"``: the first successful call wins; the others are cancelled at once (their
  connections closed, so they stop generating) and never retried.
- ``strategy="first-valid"``: the first answer ``validator`` accepts wins (``"json"``,
  ``"regex:^SELECT"``, ``"schema:FILE"``, a :mod:`validator <awspar.bedrock.validators>` or any
  callable ``text -> bool``); the rest are cancelled once one passes.

``api="converse"`` (the default) works for every model; ``api="invoke"`` builds the model family's
own body (Anthropic Claude, Amazon Nova). Model ids and inference profiles (``us.anthropic...``)
are sent unchanged; credentials, region and endpoint come from the usual AWS settings unless given.
Throttling (429) and 503 answers are retried by the engine with backoff and jitter (see
:data:`BEDROCK_CONFIG`), but a race's losers never are.

``stream=True`` uses ConverseStream / InvokeModelWithResponseStream. On the async engine (the
default when aiohttp is installed) the tokens are decoded as they arrive (:mod:`awspar.bedrock.live`):
a race is won by the first call to produce a token (or, if none produced one, the first to
finish), the others are cancelled at that moment, and the winner's tokens go to ``on_token`` live
(:func:`astream` gives them as an async iterator). The other engines hand back each streamed body
whole, so they race on completion and give ``on_token`` the winner's text in one piece.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from awspar._config import EngineConfig, RetryPolicy
from awspar._errors import ConfigurationError, ServiceError
from awspar._models import RawResponse, SignedRequest
from awspar.bedrock.answer import BedrockAnswer, answer_from_converse, answer_from_invoke
from awspar.bedrock.bodies import Api, Generation, Prompt, operation_name, request_params
from awspar.bedrock.run import STRATEGIES, BedrockCall, BedrockRun, Strategy, Verdict, assemble
from awspar.bedrock.stream import decode_stream
from awspar.bedrock.validators import Validator, as_validator, rejection
from awspar.engines import engine_class, get_engine

if TYPE_CHECKING:  # pragma: no cover
    import asyncio

    from awspar.bedrock.live import LiveStreams

__all__ = [
    "BEDROCK_CONFIG",
    "DEFAULT_MODEL",
    "LARGE_RACE",
    "BedrockAnswer",
    "BedrockCall",
    "BedrockRun",
    "LargeRaceWarning",
    "TokenStream",
    "ainvoke",
    "astream",
    "invoke",
]

#: A current Claude Haiku, as in the experiment awspar grew from.
DEFAULT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
#: The engine settings for Bedrock unless ``config=`` says otherwise: a read timeout well past
#: botocore's 60 s (long generations), a modest cap on calls in flight, and patient retries of
#: throttling (full-jitter backoff from 1 s up to 20 s, as botocore's standard mode; 5 attempts in
#: all, within the policy's 120 s; other failures from 0.25 s).
BEDROCK_CONFIG = EngineConfig(
    concurrency=10, read_timeout=300.0,
    retry=RetryPolicy(max_attempts=5, max_transient_attempts=5, base_delay=0.25, throttle_base_delay=1.0),
)
#: Racing more calls than this warns (:class:`LargeRaceWarning`).
LARGE_RACE = 5
TokenCallback = Callable[[str], object]


class LargeRaceWarning(UserWarning):
    """Racing N calls reserves N x max_tokens of the model's tokens-per-minute quota at once."""


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Everything decided before anything is sent."""

    model: str
    api: Api
    stream: bool
    strategy: Strategy
    operation: str
    params: tuple[dict[str, Any], ...]
    validator: Validator | None
    on_token: TokenCallback | None


def _prompts(prompt_or_requests: Prompt | Sequence[Prompt], n: int | None) -> list[Prompt]:
    """One prompt repeated ``n`` times (default 3), or the given list of prompts."""
    single = isinstance(prompt_or_requests, str) or (
        isinstance(prompt_or_requests, Sequence)
        and bool(prompt_or_requests)
        and isinstance(prompt_or_requests[0], Mapping)
    )
    if single:
        count = 3 if n is None else n
        if count < 1:
            raise ConfigurationError(f"n must be at least 1, not {count}")
        return [prompt_or_requests] * count  # type: ignore[list-item]
    prompts: list[Prompt] = list(prompt_or_requests)  # type: ignore[arg-type]
    if not prompts:
        raise ConfigurationError("no prompts to send")
    if n is not None and n != len(prompts):
        raise ConfigurationError(f"n={n} but {len(prompts)} prompts were given")
    return prompts


def _plan(
    prompt_or_requests: Prompt | Sequence[Prompt],
    *,
    model: str,
    n: int | None,
    strategy: str,
    validator: Validator | str | None,
    api: str,
    stream: bool,
    generation: Generation,
    on_token: TokenCallback | None,
) -> _Plan:
    if strategy not in STRATEGIES:
        raise ConfigurationError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if api not in ("converse", "invoke"):
        raise ConfigurationError(f"api must be 'converse' or 'invoke', not {api!r}")
    if strategy == "first-valid" and validator is None:
        raise ConfigurationError("strategy='first-valid' needs a validator (e.g. validator='json')")
    if strategy != "first-valid" and validator is not None:
        raise ConfigurationError("a validator is only used with strategy='first-valid'")
    if on_token is not None and strategy == "all":
        raise ConfigurationError("on_token streams one winner's tokens: use strategy='race' or 'first-valid'")
    prompts = _prompts(prompt_or_requests, n)
    built: dict[int, dict[str, Any]] = {}  # one prompt repeated n times is built (and signed) once
    params = tuple(
        built.setdefault(id(prompt), request_params(api, model, prompt, generation))  # type: ignore[arg-type]
        for prompt in prompts
    )
    if strategy != "all" and len(params) > LARGE_RACE:
        warnings.warn(
            LargeRaceWarning(
                f"racing {len(params)} calls reserves {len(params)} x {generation.max_tokens} = "
                f"{len(params) * generation.max_tokens} tokens of the tokens-per-minute quota at once"
            ),
            stacklevel=3,
        )
    return _Plan(
        model=model,
        api=api,  # type: ignore[arg-type]
        stream=stream,
        strategy=strategy,  # type: ignore[arg-type]
        operation=operation_name(api, stream),  # type: ignore[arg-type]
        params=params,
        validator=None if validator is None else as_validator(validator),
        on_token=on_token,
    )


class _Resigner:
    """Re-signs a stale Bedrock request from the parameters it was signed from. (The signer keeps
    no parameters for Bedrock operations: botocore marks their inputs sensitive.)"""

    def __init__(self, signer: Any, operation: str) -> None:
        self._signer = signer
        self._operation = operation
        self._params: dict[tuple[str, bytes], Mapping[str, Any]] = {}
        self._lock = threading.Lock()

    def sign(self, params: Mapping[str, Any]) -> SignedRequest:
        request: SignedRequest = self._signer.sign(self._operation, params)
        with self._lock:
            self._params[(request.url, request.body)] = params
        return request

    def __call__(self, request: SignedRequest) -> SignedRequest:
        with self._lock:
            params = self._params[(request.url, request.body)]
        return self.sign(params)


def _signed(
    plan: _Plan, signer: Any, session: Any, region: str | None, endpoint_url: str | None, profile: str | None
) -> tuple[list[SignedRequest], _Resigner]:
    """Sign every call (identical calls share one signature: SigV4 has no nonce)."""
    if signer is None:
        from awspar.signer import Signer

        signer = Signer(
            "bedrock-runtime", session=session, region=region, endpoint_url=endpoint_url, profile=profile
        )
    resigner = _Resigner(signer, plan.operation)
    signed: dict[int, SignedRequest] = {}
    requests = [signed.get(id(p)) or signed.setdefault(id(p), resigner.sign(p)) for p in plan.params]
    return requests, resigner


def _warm_parser(operation: str) -> None:
    """Load botocore's model and parser for ``operation`` (about 0.1 s, once per process) while
    the calls are out, rather than after the first answer lands and a race is decided."""
    from awspar.parsing import parse

    try:
        parse(f"bedrock-runtime.{operation}", 500, {}, b"{}")
    except ServiceError:
        pass  # the point was the loading, not the answer


def _answer(plan: _Plan, raw: RawResponse) -> BedrockAnswer:
    """The answer in one engine response; raises its ServiceError, TransportError or ValueError."""
    from awspar.parsing import parse_response

    parsed = parse_response(raw)
    first_byte = raw.spans[-1].first_byte if raw.spans else None
    timing: dict[str, Any] = {"index": raw.index, "latency": raw.elapsed or None, "first_token": None}
    if plan.stream:  # read whole: when its first token came is not known
        return decode_stream(plan.operation, raw.body, **timing)
    if first_byte is not None:
        timing["first_token"] = first_byte - raw.spans[0].start
    if plan.api == "converse":
        return answer_from_converse(parsed, **timing)
    return answer_from_invoke(parsed, **timing)


class _Judge:
    """Turns engine responses into verdicts, once each; as ``accept`` it decides a race."""

    def __init__(self, plan: _Plan) -> None:
        self._plan = plan
        self._verdicts: dict[int, Verdict] = {}

    def verdict(self, raw: RawResponse) -> Verdict:
        known = self._verdicts.get(raw.index)
        if known is not None and known.raw is raw:
            return known
        try:
            answer = _answer(self._plan, raw)
        except Exception as exc:  # the call's own failure: an error response, a bad body
            verdict = Verdict(raw, error=exc)
        else:
            verdict = Verdict(raw, answer=answer, rejected=self.reject(answer))
        self._verdicts[raw.index] = verdict
        return verdict

    def reject(self, answer: BedrockAnswer) -> str | None:
        """``None`` when the answer may win, else why not (the validator's reason)."""
        validator = self._plan.validator
        return None if validator is None else rejection(validator, answer.text)

    def __call__(self, raw: RawResponse) -> bool:
        return self.verdict(raw).accepted


def _finish(
    plan: _Plan,
    judge: _Judge,
    raws: Sequence[RawResponse],
    winner: int | None,
    elapsed: float,
    live: bool = False,
) -> BedrockRun:
    verdicts = [judge.verdict(raw) for raw in raws]
    run = assemble(
        verdicts,
        winner,
        strategy=plan.strategy,
        model=plan.model,
        api=plan.api,
        stream=plan.stream,
        elapsed=elapsed,
    )
    if plan.on_token is not None and run.winner is not None and not live:
        plan.on_token(run.winner.text)
    return run


def _engine(mode: str, config: EngineConfig | None) -> Any:
    """The engine a call makes for itself (its requests are re-signed per call, see ``invoke``)."""
    return get_engine(mode, config or BEDROCK_CONFIG)


def _mode(mode: str | None) -> str:
    """``mode``, checked; by default ``"async"`` when aiohttp is installed, else ``"threads"``
    (in AWS Lambda, say, where aiohttp is usually not packaged)."""
    if mode is None:
        mode = "async" if importlib.util.find_spec("aiohttp") is not None else "threads"
    if mode == "boto3":
        raise ConfigurationError(
            "the boto3 engine re-sends each request through boto3 from its parameters, which awspar "
            "does not keep for Bedrock (botocore marks them sensitive): use async, threads, "
            "sequential, processes or subinterpreters"
        )
    engine_class(mode)  # an unknown or unavailable engine is bad input: say so before signing
    return mode


def _live(plan: _Plan, engine: Any, resign: _Resigner) -> LiveStreams:
    from awspar.bedrock.live import LiveStreams  # lazily: it needs asyncio

    judge = _Judge(plan)
    return LiveStreams(engine, plan.operation, plan.strategy, judge.reject, plan.on_token, resign)


def _assemble_live(plan: _Plan, outcome: tuple[list[Verdict], int | None, float]) -> BedrockRun:
    verdicts, winner, elapsed = outcome
    return assemble(
        verdicts,
        winner,
        strategy=plan.strategy,
        model=plan.model,
        api=plan.api,
        stream=plan.stream,
        elapsed=elapsed,
    )


def _run_coroutine(make: Callable[[], Any]) -> Any:
    """Run a coroutine to its end from sync code, on a private loop in a helper thread (the one
    sync-over-async portal, :class:`awspar._loop_thread.LoopThread`), so that it works whether or
    not this thread already runs an event loop."""
    from awspar._loop_thread import LoopThread

    portal = LoopThread(name="awspar-bedrock")
    try:
        return portal.call(make)
    finally:
        portal.close()


def invoke(
    prompt_or_requests: Prompt | Sequence[Prompt],
    *,
    model: str = DEFAULT_MODEL,
    n: int | None = None,
    strategy: Strategy = "all",
    validator: Validator | str | None = None,
    api: Api = "converse",
    stream: bool = False,
    system: str | None = None,
    max_tokens: int = 512,
    temperature: float | None = None,
    top_p: float | None = None,
    stop_sequences: Sequence[str] = (),
    mode: str | None = None,
    config: EngineConfig | None = None,
    engine: Any = None,
    session: Any = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    signer: Any = None,
    on_token: TokenCallback | None = None,
) -> BedrockRun:
    """Send a prompt ``n`` times (default 3), or each prompt of a list, to ``model`` in parallel.

    ``prompt_or_requests`` is a prompt, a conversation (``[{"role": "user", "content": "..."}]``)
    or a list of either (one call each; then ``n`` may be left out). Returns a
    :class:`BedrockRun`: every call's timings and outcome, the ``winner`` of a race or first-valid
    run, ``answers`` in input order. Raises :class:`~awspar.NoWinnerError` (the run is its
    ``.run``) when a race or first-valid run has no winner or when every call failed, and
    :class:`~awspar.ConfigurationError` for bad input before anything is sent.

    ``mode`` is the engine (``"async"``, ``"threads"``, ``"sequential"``, ``"processes"``,
    ``"subinterpreters"``; default ``"async"``, or ``"threads"`` without aiohttp), made with
    ``config`` (default :data:`BEDROCK_CONFIG`); or pass a ready ``engine=`` to reuse its pools
    (it is not closed; whatever its own ``resign``, a request of this call that would be stale
    when sent is re-signed from its parameters by this call's signer, passed per call as
    ``resign=``). ``signer`` (a ``Signer("bedrock-runtime")``) or
    ``session``/``profile``/``region``/``endpoint_url`` say where and as whom to sign.
    ``on_token(text)`` receives the winner's text: token by token as it arrives with
    ``stream=True`` and the async engine, in one piece otherwise.

    >>> run = invoke("Name a colour.", n=3, strategy="race")  # doctest: +SKIP
    >>> run.text, run.winner.latency, [c.outcome for c in run.calls]  # doctest: +SKIP
    ('Blue.', 0.61, ['cancelled', 'won', 'cancelled'])
    """
    generation = Generation(max_tokens, system, temperature, top_p, tuple(stop_sequences))
    plan = _plan(
        prompt_or_requests,
        model=model,
        n=n,
        strategy=strategy,
        validator=validator,
        api=api,
        stream=stream,
        generation=generation,
        on_token=on_token,
    )
    owned = engine is None
    chosen = _mode(mode) if owned else ""
    requests, resigner = _signed(plan, signer, session, region, endpoint_url, profile)
    threading.Thread(target=_warm_parser, args=(plan.operation,), daemon=True).start()
    engine = _engine(chosen, config) if owned else engine
    try:
        if plan.stream and engine.native_async:
            return _assemble_live(plan, _run_coroutine(lambda: _live(plan, engine, resigner).run(requests)))
        judge = _Judge(plan)
        began = time.perf_counter()
        if plan.strategy == "all":
            raws = list(engine.map(requests, resign=resigner))
            return _finish(plan, judge, raws, None, time.perf_counter() - began)
        race = engine.race(requests, accept=judge, resign=resigner)
        return _finish(plan, judge, race.results, race.winner_index, race.elapsed)
    finally:
        if owned:
            engine.close()


async def ainvoke(
    prompt_or_requests: Prompt | Sequence[Prompt],
    *,
    model: str = DEFAULT_MODEL,
    n: int | None = None,
    strategy: Strategy = "all",
    validator: Validator | str | None = None,
    api: Api = "converse",
    stream: bool = False,
    system: str | None = None,
    max_tokens: int = 512,
    temperature: float | None = None,
    top_p: float | None = None,
    stop_sequences: Sequence[str] = (),
    mode: str | None = None,
    config: EngineConfig | None = None,
    engine: Any = None,
    session: Any = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    signer: Any = None,
    on_token: TokenCallback | None = None,
) -> BedrockRun:
    """Awaitable twin of :func:`invoke`; signing runs in a helper thread, so the event loop
    never blocks. ``on_token`` is called on the loop."""
    generation = Generation(max_tokens, system, temperature, top_p, tuple(stop_sequences))
    plan = _plan(
        prompt_or_requests,
        model=model,
        n=n,
        strategy=strategy,
        validator=validator,
        api=api,
        stream=stream,
        generation=generation,
        on_token=on_token,
    )
    owned = engine is None
    chosen = _mode(mode) if owned else ""
    import asyncio

    requests, resigner = await asyncio.to_thread(
        _signed, plan, signer, session, region, endpoint_url, profile
    )
    threading.Thread(target=_warm_parser, args=(plan.operation,), daemon=True).start()
    engine = await asyncio.to_thread(_engine, chosen, config) if owned else engine
    try:
        if plan.stream and engine.native_async:
            return _assemble_live(plan, await _live(plan, engine, resigner).run(requests))
        judge = _Judge(plan)
        began = time.perf_counter()
        if plan.strategy == "all":
            raws = [raw async for raw in engine.amap(requests, resign=resigner)]
            return _finish(plan, judge, raws, None, time.perf_counter() - began)
        race = await engine.arace(requests, accept=judge, resign=resigner)
        return _finish(plan, judge, race.results, race.winner_index, race.elapsed)
    finally:
        if owned:
            await engine.aclose()


class TokenStream:
    """The winner's tokens as an async iterator; :attr:`run` holds the :class:`BedrockRun` once
    the iteration has ended. Made by :func:`astream`."""

    def __init__(self, start: Callable[[Callable[[str], object]], Any]) -> None:
        self._start = start
        self.run: BedrockRun | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        import asyncio

        queue: asyncio.Queue[str] = asyncio.Queue()
        task = asyncio.ensure_future(self._start(queue.put_nowait))
        try:
            while not task.done() or not queue.empty():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            self.run = task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


def astream(prompt_or_requests: Prompt | Sequence[Prompt], **options: Any) -> TokenStream:
    """The winner's tokens as they arrive, for ``async for``; options as for :func:`ainvoke`
    (``stream=True`` and ``strategy="race"`` unless given).

    >>> tokens = astream("Tell me a story.", n=3)  # doctest: +SKIP
    >>> async for token in tokens:  # doctest: +SKIP
    ...     print(token, end="")
    >>> tokens.run.winner.first_token  # doctest: +SKIP
    """
    if "on_token" in options:
        raise ConfigurationError("astream hands out the tokens itself: pass no on_token")
    options.setdefault("stream", True)
    options.setdefault("strategy", "race")
    return TokenStream(lambda on_token: ainvoke(prompt_or_requests, on_token=on_token, **options))
