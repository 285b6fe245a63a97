"""What a Bedrock run hands back: every call's record and the winning answer. Plain data, no I/O.

A *run* sends one prompt N times (or N prompts) and keeps all answers (``strategy="all"``), the
first success (``"race"``) or the first answer a validator accepts (``"first-valid"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from awspar._errors import NoWinnerError
from awspar._models import RawResponse
from awspar.bedrock.answer import BedrockAnswer

__all__ = [
    "STRATEGIES",
    "BedrockCall",
    "BedrockRun",
    "Outcome",
    "Strategy",
    "Verdict",
    "assemble",
    "one_line",
]

Strategy = Literal["all", "race", "first-valid"]
STRATEGIES: tuple[str, ...] = ("all", "race", "first-valid")

#: ``won`` (the run's answer), ``ok`` (answered, kept by ``all`` or finished after the winner),
#: ``rejected`` (answered, refused by the validator), ``failed`` (an error), ``cancelled`` (a loser
#: stopped when another call won).
Outcome = Literal["won", "ok", "rejected", "failed", "cancelled"]


@dataclass(frozen=True)
class Verdict:
    """What one call came to, before the run is assembled: the engine's response, and either the
    answer (with the validator's reason to reject it, if any) or the error."""

    raw: RawResponse
    answer: BedrockAnswer | None = None
    error: BaseException | None = None
    rejected: str | None = None

    @property
    def accepted(self) -> bool:
        return self.answer is not None and self.rejected is None


@dataclass(frozen=True)
class BedrockCall:
    """One call of a run: how it ended and its timings (seconds from the call's own start).

    ``answer`` is set for ``won``, ``ok`` and ``rejected`` calls; ``reason`` says why a call was
    rejected, failed or cancelled (one line, no secret); ``error`` is the exception of a failed one.
    """

    index: int
    outcome: Outcome
    latency: float | None = None
    first_token: float | None = None
    attempts: int = 1
    answer: BedrockAnswer | None = field(default=None, repr=False)
    reason: str | None = None
    error: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def input_tokens(self) -> int | None:
        return self.answer.input_tokens if self.answer else None

    @property
    def output_tokens(self) -> int | None:
        return self.answer.output_tokens if self.answer else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the answer's text included, its raw response left out)."""
        return {
            "index": self.index,
            "outcome": self.outcome,
            "latency_s": self.latency,
            "first_token_s": self.first_token,
            "attempts": self.attempts,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "stop_reason": self.answer.stop_reason if self.answer else None,
            "text": self.answer.text if self.answer else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class BedrockRun:
    """The result of :func:`awspar.bedrock.invoke`.

    ``calls`` holds every call in input order. ``winner`` is the answer a race or first-valid run
    kept (``None`` for ``strategy="all"``). ``answers`` lists every call's answer in input order
    (``None`` where a call failed or was cancelled). ``elapsed`` is the whole run's wall time.
    """

    strategy: Strategy
    model: str
    api: str
    stream: bool
    calls: tuple[BedrockCall, ...]
    winner: BedrockAnswer | None = None
    elapsed: float = 0.0

    @property
    def answers(self) -> list[BedrockAnswer | None]:
        return [call.answer if call.outcome in ("won", "ok") else None for call in self.calls]

    @property
    def text(self) -> str:
        """The winner's text; for ``strategy="all"`` the answers' texts, blank-line separated."""
        if self.winner is not None:
            return self.winner.text
        return "\n\n".join(a.text for a in self.answers if a is not None)

    @property
    def failures(self) -> list[BedrockCall]:
        return [call for call in self.calls if call.outcome == "failed"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the settings, the winner's index and text, and every call."""
        return {
            "strategy": self.strategy,
            "model": self.model,
            "api": self.api,
            "stream": self.stream,
            "elapsed_s": self.elapsed,
            "winner": self.winner.index if self.winner is not None else None,
            "text": self.text,
            "calls": [call.to_dict() for call in self.calls],
        }


# Extra words for the errors a user can act on.
_HINTS = {
    "AccessDeniedException": "is the model enabled for this account and region (Bedrock console, Model access)?",
    "ResourceNotFoundException": "check the model id or inference profile, and the region",
    "ThrottlingException": "throttled to the end: lower --n or the concurrency, or raise the quota",
    "ServiceQuotaExceededException": "the account's quota for this model is used up",
}


def one_line(error: BaseException) -> str:
    """``error`` as one line, with a hint for the Bedrock errors a user can act on."""
    text = " ".join(str(error).split()) or type(error).__name__
    hint = _HINTS.get(str(getattr(error, "code", "")))
    if hint is None and "model identifier is invalid" in text:
        hint = "check the model id or inference profile, and the region"
    return f"{text} ({hint})" if hint else text


def _outcome(verdict: Verdict, won: bool) -> Outcome:
    if won:
        return "won"
    if verdict.error is not None:
        return "cancelled" if getattr(verdict.error, "cancelled", False) else "failed"
    return "rejected" if verdict.rejected is not None else "ok"


def assemble(
    verdicts: list[Verdict],
    winner_index: int | None,
    *,
    strategy: Strategy,
    model: str,
    api: str,
    stream: bool,
    elapsed: float,
) -> BedrockRun:
    """The run from every call's verdict (input order). Raises :class:`NoWinnerError` (with the
    run as ``.run``) when a race or first-valid run has no winner, or when every call failed."""
    calls = []
    for verdict in verdicts:
        answer = verdict.answer
        outcome = _outcome(verdict, verdict.raw.index == winner_index)
        reason = verdict.rejected or (one_line(verdict.error) if verdict.error is not None else None)
        calls.append(
            BedrockCall(
                index=verdict.raw.index,
                outcome=outcome,
                latency=answer.latency if answer is not None else (verdict.raw.elapsed or None),
                first_token=answer.first_token if answer is not None else None,
                attempts=max(verdict.raw.attempts, 1),
                answer=answer,
                reason=reason,
                error=verdict.error,
            )
        )
    winner = verdicts[winner_index].answer if winner_index is not None else None
    run = BedrockRun(strategy, model, api, stream, tuple(calls), winner, elapsed)
    if winner is None and (strategy != "all" or all(call.outcome == "failed" for call in calls)):
        raise NoWinnerError(_no_winner_message(calls), run=run)
    return run


def _no_winner_message(calls: list[BedrockCall]) -> str:
    failed = [call for call in calls if call.outcome == "failed"]
    rejected = [call for call in calls if call.outcome == "rejected"]
    if rejected:
        first = rejected[0]
        text = (
            f"no answer passed the validator: {len(rejected)} of {len(calls)} rejected "
            f"(call {first.index}: {first.reason})"
        )
        if failed:
            text += f", {len(failed)} failed (call {failed[0].index}: {failed[0].reason})"
        return text
    if not failed:
        return f"no call of {len(calls)} gave an answer"
    first = failed[0]
    # The engine's own message already ends "(after N attempts)" for a transport error: say it once.
    said = f"(after {first.attempts} attempts)" in (first.reason or "")
    tries = f" after {first.attempts} attempts" if first.attempts > 1 and not said else ""
    if len(failed) == len(calls):
        return f"every call failed ({len(failed)} of {len(calls)}); call {first.index}{tries}: {first.reason}"
    # A streamed race whose leader broke after the others had been cancelled at its first token.
    return (
        f"no call answered ({len(failed)} failed, {len(calls) - len(failed)} cancelled); "
        f"call {first.index}{tries}: {first.reason}"
    )
