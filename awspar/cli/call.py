"""``awspar call SERVICE OPERATION``: one operation, many parameter sets, in parallel.

Thin: it reads parameter objects (JSON Lines from a file or stdin, or one ``--param`` set
repeated), calls :func:`awspar.call_many`, writes one JSON line per result on stdout, draws a
progress bar on a terminal and prints a summary on stderr (``--json``: one JSON object).
Exit codes as ``s3-get``'s: 0 when every call succeeded, 1 when some failed, 2 for bad input
(an unknown service or operation, a line that is not JSON or does not fit the operation's input,
missing credentials), 3 when nothing could be reached (every call failed to connect, or was
refused its credentials), 130 when interrupted. A bad input line ends the input there: the calls
already read are still sent and their results written, then the line is reported.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from awspar._config import DEFAULT_CONFIG
from awspar._errors import ConfigurationError
from awspar.cli._dask_scheduler import SCHEDULER_HELP, dask_scheduler
from awspar.cli._json_values import BINARY_FORMATS, decode_blobs, json_default
from awspar.cli._options import (
    Concurrency,
    EndpointUrl,
    MaxConcurrency,
    Profile,
    Region,
    Timeout,
    concurrency_value,
    retries_option,
    with_retry_options,
)
from awspar.cli._output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, fail, plural

__all__ = ["call_command", "register"]

# Error codes that mean "this endpoint or identity cannot be used at all".
_UNREACHABLE = frozenset({
    "ConnectError", "TimeoutError", "TransportError", "SignatureDoesNotMatch", "InvalidSignatureException",
    "IncompleteSignature", "InvalidClientTokenId", "UnrecognizedClientException", "MissingAuthenticationToken",
    "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId", "AuthFailure",
})
_FAILURES_LISTED = 10


def register(app: typer.Typer) -> None:
    """Add ``awspar call`` to the app."""
    app.command("call")(call_command)


def call_command(
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="botocore service name, e.g. dynamodb, sqs, kms, sts.")],
    operation: Annotated[str, typer.Argument(metavar="OPERATION", help="Operation, PascalCase or snake_case, e.g. GetItem.")],
    params_from: Annotated[
        str | None, typer.Option("--params-from", metavar="FILE", help="Read one JSON object of parameters per "
                                 "line (JSON Lines) from FILE; '-' reads stdin. Blank lines are skipped.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A parameter as Key=Value (repeatable): JSON for numbers, booleans, "
                     "lists and objects, plain text for string parameters; Key=@path reads a file. With "
                     "--params-from, a default under every line's own."),
    ] = None,
    n: Annotated[
        int | None, typer.Option("--n", min=1, help="Send the --param set this many times (default: 1; not "
                                 "with --params-from).")
    ] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="Engine: sequential, threads, async, subinterpreters, processes, "
                                 "boto3 or dask (default: async, threads when aiohttp is not installed).")
    ] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", metavar="ADDRESS", help=SCHEDULER_HELP)] = None,
    concurrency: Concurrency = "auto",
    max_concurrency: MaxConcurrency = 256,
    retries: retries_option(DEFAULT_CONFIG.retry) = None,  # type: ignore[valid-type]
    timeout: Timeout = None,
    unordered: Annotated[
        bool, typer.Option("--unordered", help="Write results as they finish (default: in input order).")
    ] = False,
    paginate: Annotated[
        bool, typer.Option("--paginate", help="Follow each input's pages (one after another within an input, in "
                           "parallel across inputs) and write them merged, as the AWS CLI does.")
    ] = False,
    binary: Annotated[
        str, typer.Option("--binary", help="Blobs: 'base64' (blob parameters given as base64, as blobs and "
                          "streaming bodies are written) or 'raw-in-base64-out' (blob parameters as plain text).")
    ] = "base64",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary on stderr as one JSON object.")
    ] = False,
    region: Region = None,
    endpoint_url: EndpointUrl = None,
    profile: Profile = None,
) -> None:
    """Call SERVICE OPERATION once per parameter set, in parallel; one JSON line per result on
    stdout, with the input's position ("index", and "line" for --params-from): "response" (the
    dict boto3 returns, without ResponseMetadata) or "error" (type, code, message, status,
    request id, attempts).

    Examples:

      awspar call dynamodb GetItem --params-from keys.jsonl --concurrency 100 > items.jsonl

      awspar call sqs SendMessage --param QueueUrl=$Q --param MessageBody=hello --n 1000

      awspar call dynamodb Query --paginate --params-from queries.jsonl --unordered
    """
    from awspar.engines import ENGINE_NAMES

    if mode is not None and mode not in ENGINE_NAMES:
        fail(f"--mode {mode!r} is not one of: {', '.join(ENGINE_NAMES)}")
    if binary not in BINARY_FORMATS:
        fail(f"--binary {binary!r} is not one of: {', '.join(BINARY_FORMATS)}")
    if params_from is not None and n is not None:
        fail("--n repeats the --param set: not with --params-from")
    mode = mode or _default_mode()
    config = with_retry_options(DEFAULT_CONFIG.with_(concurrency=concurrency_value(concurrency),
                                                     max_concurrency=max_concurrency), retries, timeout)
    cluster = dask_scheduler(mode, scheduler)
    signer = _signer(service, region, endpoint_url, profile)
    model = signer.operation_model(operation)
    from awspar.call import check_callable
    from awspar.cli.sign import parse_params

    check_callable(model)
    base = parse_params(param or [], model.input_shape)
    inputs = _Inputs(signer, model, base, binary == "base64")
    source = inputs.from_file(params_from) if params_from is not None else inputs.repeated(n or 1)
    run = _Run(n if params_from is None else None, not as_json and sys.stderr.isatty())
    try:
        from awspar.call import call_many

        results = call_many(service, model.name, source, mode=mode, config=config, ordered=not unordered,
                            paginate=paginate, signer=signer, region=region, endpoint_url=endpoint_url,
                            profile=profile)
        try:
            with run, cluster:
                for result in results:
                    run.add(result, inputs.line_of.pop(result.index, None))
        finally:
            results.close()  # on any way out: cancels what is in flight
    except KeyboardInterrupt:
        sys.stdout.flush()
        fail(f"interrupted after {plural(run.ok + run.failed, 'result')}", EXIT_INTERRUPTED)
    sys.stdout.flush()
    code = run.finish(service, model.name, mode, as_json)
    if inputs.error is not None:
        fail(inputs.error, EXIT_USAGE)
    raise typer.Exit(code)


def _default_mode() -> str:
    import importlib.util

    return "async" if importlib.util.find_spec("aiohttp") is not None else "threads"


def _signer(service: str, region: str | None, endpoint_url: str | None, profile: str | None) -> Any:
    from awspar.signer import Signer, botocore_session

    return Signer(service, session=botocore_session(profile), region=region, endpoint_url=endpoint_url)


class _Inputs:
    """The parameter sets, read lazily and checked against the operation's input shape as they
    are read. A bad line ends the input (what was read before it is still sent) and is kept in
    :attr:`error` for the end of the run."""

    def __init__(self, signer: Any, model: Any, base: dict[str, Any], base64_blobs: bool) -> None:
        self._signer = signer
        self._model = model
        self._base = base
        self._base64 = base64_blobs
        self.error: str | None = None
        #: the file line of each input whose result is not written yet
        self.line_of: dict[int, int] = {}

    def repeated(self, count: int) -> Iterator[dict[str, Any]]:
        params = self._checked(self._base, "--param")
        if params is None:
            return
        for _ in range(count):
            yield params

    def from_file(self, source: str) -> Iterator[dict[str, Any]]:
        from awspar.cli._keys_file import key_lines

        try:
            lines = key_lines(source, option="--params-from", kind="give one JSON object of parameters a line")
        except OSError as exc:
            fail(f"--params-from {source!r}: {exc.strerror or exc}")
        name = "standard input" if source == "-" else repr(source)
        return self._read(lines, name)

    def _read(self, lines: Iterator[str], name: str) -> Iterator[dict[str, Any]]:
        index = 0
        number = 0
        try:
            for number, text in enumerate(lines, 1):
                if not text.strip():
                    continue
                where = f"--params-from {name}: line {number}"
                try:
                    value = json.loads(text)
                except ValueError as exc:
                    self.error = f"{where} is not JSON ({exc.msg} at column {exc.colno})"
                    return
                if not isinstance(value, dict):
                    self.error = f"{where} is a JSON {type(value).__name__}, not an object of parameters"
                    return
                params = self._checked({**self._base, **value}, where)
                if params is None:
                    return
                self.line_of[index] = number
                index += 1
                yield params
        except ConfigurationError as exc:  # a line that is not UTF-8
            self.error = str(exc)

    def _checked(self, params: dict[str, Any], where: str) -> dict[str, Any] | None:
        """``params`` with blobs decoded and validated, or ``None`` (and :attr:`error` said)."""
        try:
            if self._base64:
                params = decode_blobs(params, self._model.input_shape)
            self._signer.validate(self._model.name, params)
        except (ValueError, ConfigurationError) as exc:
            message = str(exc).replace(f"{self._signer.service}.{self._model.name}: ", "")
            self.error = f"{where}: {message}"
            return None
        return params


class _Run:
    """Counts, the progress bar, the result lines and the closing summary."""

    def __init__(self, total: int | None, show_progress: bool) -> None:
        self.started = time.perf_counter()
        self.ok = self.failed = self.attempts = 0
        self.codes: Counter[str] = Counter()
        self.failures: list[str] = []
        self._out = sys.stdout
        self._progress: Any = None
        self._task: Any = None
        if show_progress:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[failed]} failed"), console=Console(stderr=True), transient=True,
            )
            self._task = self._progress.add_task("calls", total=total, failed=0)

    def __enter__(self) -> _Run:  # noqa: PYI034 - Self needs 3.11 typing; this class is final
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, result: Any, line: int | None) -> None:
        record: dict[str, Any] = {"index": result.index}
        if line is not None:
            record["line"] = line
        record["ok"] = result.ok
        record["attempts"] = result.attempts
        if result.ok:
            self.ok += 1
            response = dict(result.response)
            metadata = response.pop("ResponseMetadata", None) or {}
            if metadata.get("RequestId"):
                record["request_id"] = metadata["RequestId"]
            if result.pages > 1:
                record["pages"] = result.pages
            record["response"] = response
        else:
            self.failed += 1
            error = _error_record(result.error)
            self.codes[error["code"]] += 1
            record["error"] = error
            if len(self.failures) < _FAILURES_LISTED:
                self.failures.append(f"#{result.index}{f' (line {line})' if line else ''}: {error['message']}")
        self.attempts += result.attempts
        self._out.write(json.dumps(record, ensure_ascii=False, default=json_default) + "\n")
        if self._progress is not None:
            self._progress.update(self._task, advance=1, failed=self.failed)

    def finish(self, service: str, operation: str, mode: str, as_json: bool) -> int:
        """Print the summary on stderr; return the exit code."""
        wall = time.perf_counter() - self.started
        calls = self.ok + self.failed
        code = EXIT_OK if self.failed == 0 else EXIT_PARTIAL
        if self.failed and not self.ok and set(self.codes) <= _UNREACHABLE:
            code = EXIT_FAILED
        if as_json:
            typer.echo(json.dumps({
                "service": service, "operation": operation, "mode": mode, "calls": calls, "ok": self.ok,
                "failed": self.failed, "attempts": self.attempts, "wall_s": round(wall, 6),
                "calls_per_s": round(calls / wall, 1) if wall else 0.0, "error_codes": dict(self.codes),
                "exit_code": code,
            }, ensure_ascii=False), err=True)
            return code
        for line in self.failures:
            typer.echo(f"failed: {line}", err=True)
        if self.failed > len(self.failures):
            typer.echo(f"... and {plural(self.failed - len(self.failures), 'more failure')}", err=True)
        codes = ", ".join(f"{count} {name}" for name, count in self.codes.most_common())
        typer.echo(f"{self.ok} ok, {self.failed} failed{f' ({codes})' if codes else ''}; "
                   f"{plural(calls, 'call')} in {wall:.2f} s ({calls / wall if wall else 0:.0f} calls/s)", err=True)
        return code


def _error_record(error: BaseException | None) -> dict[str, Any]:
    """An error as JSON: its type, AWS's code (or the type's name), one-line message, and the
    HTTP status, request id and attempts of an AWS answer."""
    record: dict[str, Any] = {"type": type(error).__name__, "code": str(getattr(error, "code", "") or
                                                                       type(error).__name__)}
    record["message"] = " ".join(str(error).split())
    for field in ("status", "request_id", "attempts"):
        value = getattr(error, field, None)
        if value is not None:
            record[field] = value
    if hasattr(error, "retried"):
        record["retried"] = error.retried  # type: ignore[union-attr]
    return record
