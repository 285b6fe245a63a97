"""Upload many objects at once, each one checked by S3 on arrival: :func:`put_objects`.

The upload twin of :func:`awspar.s3.get_objects`, with the same engines, plans and results. Per
object (a file, a file under a directory walked lazily, or ``(key, bytes)``: see
:mod:`awspar.s3.sources`):

1. **Small objects** (below ``multipart_threshold``, 16 MiB by default): one presigned PUT whose
   ``x-amz-checksum-<algorithm>`` header (CRC32 by default; CRC32C, SHA1 or SHA256 on request)
   is covered by the signature, so S3 stores the object only if the bytes it received match
   (400 ``BadDigest`` otherwise, and that PUT is sent again, up to the retry policy's
   ``max_transient_attempts``).
2. **Large objects**: CreateMultipartUpload (header-signed, naming the checksum algorithm; sent
   whole from a blocking step through a small threads engine of the run's own, so that stopping
   the run never loses the id of an upload S3 has just made), then
   ``part_size`` parts (8 MiB by default) as presigned UploadPart requests with each part's
   checksum, sent in parallel through the engine (they share its concurrency bound with the
   other objects); each part is read from the file only when it is about to go (at most a window
   of ``2 × concurrency`` parts in memory) and a part the engine's retries could not get through
   with a bad digest is sent again alone; then CompleteMultipartUpload with every part's ETag
   and checksum, and the COMPOSITE checksum S3 answers compared with the one computed here.
   A failure aborts the upload (AbortMultipartUpload), and so does stopping early or Ctrl-C
   (the run's uploads still open are aborted before :func:`put_objects` returns), so no
   orphaned parts keep costing money.
3. Stale URLs are re-signed by the engine (:meth:`awspar.signer.Signer.resign` keeps the body).

``skip_existing`` asks HeadObject first and skips an object whose size and checksum (or MD5
ETag) are already those of the local bytes, so a re-run uploads only what is missing or
different. ``content_type`` defaults to a guess from the key (:mod:`mimetypes`); ``metadata``
and ``storage_class`` apply to every object.

>>> for result in put_objects("my-bucket", "./out", prefix="2026/12/"):  # doctest: +SKIP
...     print(result.key, result.ok, result.error_code)
"""

from __future__ import annotations

import base64
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from awspar._config import EngineConfig
from awspar._errors import ConfigurationError
from awspar._models import RawResponse, SignedRequest, Span
from awspar.engines.plan import MORE, Blocking, Plan, Send, SendEach, Step, arun_plans, closing, run_plans
from awspar.s3 import (
    _HANDOFF,
    _PRESIGN_EXPIRES,
    MiB,
    ObjectResult,
    Progress,
    _Failed,
    _on_loop_thread,
    _resolve,
    _service_error,
    auto_mode,
)
from awspar.s3.integrity import _checksum_class, lowercase_keys
from awspar.s3.sources import Source, SourceError, sources

if TYPE_CHECKING:  # pragma: no cover
    from awspar.engines.base import Engine
    from awspar.signer import Signer

__all__ = ["CHECKSUMS", "aput_objects", "put_objects"]

#: Seconds a stopped run waits for its CreateMultipartUpload calls in flight before aborting.
_CREATE_WAIT = 30.0

#: The checksum algorithms an upload can carry, with the API parameter that carries each.
CHECKSUMS = {"crc32": "ChecksumCRC32", "crc32c": "ChecksumCRC32C", "sha1": "ChecksumSHA1", "sha256": "ChecksumSHA256"}


class _Uploader:
    """What every object of one :func:`put_objects` run shares, and the plan of one object."""

    def __init__(
        self, bucket: str, signer: Signer, *, presigned: bool, checksum: str, content_type: str | None,
        metadata: Mapping[str, str] | None, storage_class: str | None, threshold: int, part_size: int,
        skip_existing: bool, config: EngineConfig, on_progress: Progress | None,
    ) -> None:
        self.bucket = bucket
        self.signer = signer
        self.presigned = presigned
        self.algorithm = checksum
        self.checksum_param = CHECKSUMS[checksum]
        self.hasher = _checksum_class(checksum)
        self.content_type = content_type
        self.metadata = dict(metadata or {})
        self.storage_class = storage_class
        self.threshold = threshold
        self.part_size = part_size
        self.skip_existing = skip_existing
        self.config = config
        self.attempts = config.retry.max_transient_attempts  # a damaged body is a transient failure
        self.on_progress = on_progress
        #: Multipart uploads created and not yet completed or aborted: upload id -> key.
        self.open: dict[str, str] = {}
        # CreateMultipartUpload goes through an engine of its own, from a blocking step, so that
        # stopping the run never cuts one off after S3 made the upload but before its id is known.
        self._control_engine: Engine | None = None
        self._creating = 0
        self._settled = threading.Condition()

    # -- requests -------------------------------------------------------------------------------
    def checksum(self, data: bytes) -> str:
        hasher = self.hasher()
        hasher.update(data)
        return str(hasher.b64digest())

    def object_params(self, key: str) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        content_type = self.content_type or _guess_type(key)
        if content_type:
            params["ContentType"] = content_type
        if self.metadata:
            params["Metadata"] = self.metadata
        if self.storage_class:
            params["StorageClass"] = self.storage_class
        return params

    def data_request(self, operation: str, params: dict[str, Any], body: bytes) -> SignedRequest:
        """A PutObject or UploadPart carrying ``body``: presigned (the checksum header signed),
        or header-signed with the body's hash, its parameters kept with the body (for re-signing,
        and for an engine that calls boto3 itself)."""
        if self.presigned:
            request = self.signer.presign(operation, params, expires_in=_PRESIGN_EXPIRES)
            return dataclasses.replace(request, body=body)
        full = {**params, "Body": body}
        return dataclasses.replace(self.signer.sign(operation, full), params=full)

    def control(self, operation: str, params: dict[str, Any]) -> SignedRequest:
        """Create/Complete/Abort/Head: header-signed (their answers are parsed)."""
        return self.signer.sign(operation, params)

    def abort_request(self, key: str, upload_id: str) -> SignedRequest:
        return self.control("AbortMultipartUpload", {"Bucket": self.bucket, "Key": key, "UploadId": upload_id})

    def create(self, params: dict[str, Any]) -> tuple[RawResponse, str | None]:
        """CreateMultipartUpload, whole, on the control engine: its answer and the upload id,
        recorded in :attr:`open` before this returns (however the plan that asked ends)."""
        with self._settled:
            self._creating += 1
            if self._control_engine is None:
                from awspar.engines import get_engine

                self._control_engine = get_engine("threads", self.config.with_(concurrency=4))
            engine = self._control_engine
        try:
            response = engine.send(self.control("CreateMultipartUpload", params), resign=self.signer.resign)
            upload_id = None
            if _failure(response, params["Key"]) is None:
                from awspar.parsing import parse_response

                upload_id = str(parse_response(response)["UploadId"])
                self.open[upload_id] = params["Key"]
            return response, upload_id
        finally:
            with self._settled:
                self._creating -= 1
                self._settled.notify_all()

    def abort_open(self) -> None:
        """Abort every upload of this run still open (a stopped run's), once the creations in
        flight have answered; then close the control engine. Blocking."""
        with self._settled:
            self._settled.wait_for(lambda: self._creating == 0, timeout=_CREATE_WAIT)
            engine, self._control_engine = self._control_engine, None
        if engine is None:
            return
        try:
            for upload_id, key in list(self.open.items()):
                engine.send(self.abort_request(key, upload_id), resign=self.signer.resign)
                self.open.pop(upload_id, None)
        finally:
            engine.close()

    # -- one object -----------------------------------------------------------------------------
    def plan(self, source: Source) -> Plan[ObjectResult]:
        """Everything one object goes through; an upload it opened is aborted on failure (and
        left in :attr:`open` for the run to abort when the plan is closed early)."""
        started = time.perf_counter()
        spans: list[Span] = []
        try:
            if source.size < self.threshold:
                result = yield from self._single(source, spans)
            else:
                result = yield from self._multipart(source, spans)
        except _Failed as exc:
            return ObjectResult(source.key, False, 0, source.path, error_code=exc.code, error=exc.message,
                                elapsed=time.perf_counter() - started, spans=tuple(spans))
        except OSError as exc:
            return ObjectResult(source.key, False, 0, source.path, error_code="LocalFileError",
                                error=f"{source.path or source.key}: {exc.strerror or exc}",
                                elapsed=time.perf_counter() - started, spans=tuple(spans))
        return dataclasses.replace(result, elapsed=time.perf_counter() - started, spans=tuple(spans))

    def _single(self, source: Source, spans: list[Span]) -> Generator[Step, Any, ObjectResult]:
        data = source.read()
        value = self.checksum(data)
        if self.skip_existing:
            skipped = yield from self._existing(source, len(data), value, spans, data=data)
            if skipped is not None:
                return skipped
        params = {**self.object_params(source.key), self.checksum_param: value}
        response = yield from self._send_data("PutObject", params, data, source.key, spans)
        self._check_echo(response, value, source.key, "")
        self._progress(source.key, len(data))
        return ObjectResult(source.key, True, len(data), source.path, verified=("length", self.algorithm))

    def _multipart(self, source: Source, spans: list[Span]) -> Generator[Step, Any, ObjectResult]:
        key, size = source.key, source.size
        count = -(-size // self.part_size)
        if count > 10000:
            raise _Failed("InvalidArgument", f"{key!r}: {count} parts of {self.part_size} bytes; S3 takes at most "
                                             "10,000 (raise part_size)")
        if self.skip_existing:
            composite = yield Blocking(lambda: self._composite(source))
            skipped = yield from self._existing(source, size, composite, spans)
            if skipped is not None:
                return skipped
        params = {**self.object_params(key), "ChecksumAlgorithm": self.algorithm.upper()}
        create, upload_id = yield Blocking(lambda: self.create(params))
        spans.extend(create.spans)
        _raise_for(create, key)
        assert upload_id is not None
        try:
            checksums: dict[int, str] = {}
            trouble: dict[int, str] = {}
            etags: dict[int, str] = {}
            again: list[int] = []
            step: Step = SendEach(self._part_jobs(source, upload_id, count, checksums, trouble))  # type: ignore[arg-type]
            for number in range(1, count + 1):
                response = yield step
                step = MORE
                spans.extend(response.spans)
                failure = _failure(response, key)
                if failure is not None and failure.code == "BadDigest":
                    again.append(number)  # sent again alone, after the run
                elif failure is not None:
                    raise failure
                else:
                    etags[number] = self._part_done(response, number, checksums, key)
            if trouble:
                first = min(trouble)
                raise _Failed("LocalFileChanged", f"{key!r}: part {first}: {trouble[first]}")
            for number in again:
                request = self._part_request(source, upload_id, number, checksums, trouble)
                response = yield from self._send_data(None, {}, b"", key, spans, request=request, tries=self.attempts - 1)
                etags[number] = self._part_done(response, number, checksums, key)
            parts = [{"PartNumber": n, "ETag": etags[n], self.checksum_param: checksums[n]} for n in range(1, count + 1)]
            done = yield Send(self.control("CompleteMultipartUpload", {
                "Bucket": self.bucket, "Key": key, "UploadId": upload_id, "MultipartUpload": {"Parts": parts}}))
            spans.extend(done.spans)
            _raise_for(done, key)
            del self.open[upload_id]
        except _Failed:
            yield from self._abort(key, upload_id, spans)
            raise
        except OSError:
            yield from self._abort(key, upload_id, spans)
            raise
        from awspar.parsing import parse_response

        answer = parse_response(done)
        expected = _composite_of(self.algorithm, [checksums[n] for n in range(1, count + 1)])
        told = answer.get(self.checksum_param)
        if told is not None and told != expected:
            raise _Failed("ChecksumMismatch", f"{key!r}: S3 composed checksum {told}, the parts give {expected}")
        return ObjectResult(key, True, size, source.path, verified=("length", self.algorithm),
                            notes=(f"multipart: {count} parts, each checked by S3 against its {self.algorithm}",))

    def _part_jobs(self, source: Source, upload_id: str, count: int, checksums: dict[int, str],
                   trouble: dict[int, str]) -> Iterator[SignedRequest]:
        """Each part's request, its bytes read only when the engine takes it."""
        for number in range(1, count + 1):
            yield self._part_request(source, upload_id, number, checksums, trouble)

    def _part_request(self, source: Source, upload_id: str, number: int, checksums: dict[int, str],
                      trouble: dict[int, str]) -> SignedRequest:
        offset = (number - 1) * self.part_size
        length = min(self.part_size, source.size - offset)
        try:
            data = source.read(offset, length)
        except OSError as exc:  # the plan fails the object once the run is over
            trouble[number] = exc.strerror or str(exc)
            data = b""
        if len(data) != length and number not in trouble:
            trouble[number] = f"the file changed size while being uploaded (read {len(data)} of {length} bytes)"
        checksums[number] = self.checksum(data)
        params = {"Bucket": self.bucket, "Key": source.key, "UploadId": upload_id, "PartNumber": number,
                  self.checksum_param: checksums[number]}
        return self.data_request("UploadPart", params, data)

    def _part_done(self, response: RawResponse, number: int, checksums: dict[int, str], key: str) -> str:
        self._check_echo(response, checksums[number], key, f" part {number}")
        etag = lowercase_keys(response.headers).get("etag")
        if not etag:
            raise _Failed("InvalidResponse", f"{key!r}: part {number} was answered without an ETag")
        self._progress(key, len(response.request.body) if response.request is not None else 0)
        return etag

    def _send_data(
        self, operation: str | None, params: dict[str, Any], body: bytes, key: str, spans: list[Span],
        request: SignedRequest | None = None, tries: int | None = None,
    ) -> Generator[Step, Any, RawResponse]:
        """Send a PUT or part; one S3 refused with BadDigest (the bytes were damaged on the way)
        goes again, ``tries`` times in all (default: the retry policy's ``max_transient_attempts``)."""
        tries = max(1, self.attempts if tries is None else tries)
        for attempt in range(1, tries + 1):
            job = request if request is not None else self.data_request(operation or "", params, body)
            response = yield Send(job)
            spans.extend(response.spans)
            failure = _failure(response, key)
            if failure is None:
                return response
            if failure.code != "BadDigest" or attempt == tries:
                raise failure
        raise AssertionError("unreachable")

    def _abort(self, key: str, upload_id: str, spans: list[Span]) -> Generator[Step, Any, None]:
        response = yield Send(self.abort_request(key, upload_id))
        spans.extend(response.spans)
        if response.error is None and (response.status < 300 or response.status == 404):
            self.open.pop(upload_id, None)

    def _existing(self, source: Source, size: int, value: str, spans: list[Span], data: bytes | None = None,
                  ) -> Generator[Step, Any, ObjectResult | None]:
        """The skipped result when the object is already there with these bytes, else ``None``."""
        head = yield Send(self.control("HeadObject", {"Bucket": self.bucket, "Key": source.key,
                                                      "ChecksumMode": "ENABLED"}))
        spans.extend(head.spans)
        if head.error is None and head.status == 404:
            return None
        _raise_for(head, source.key)
        headers = lowercase_keys(head.headers)
        if headers.get("content-length") != str(size):
            return None
        same = headers.get(f"x-amz-checksum-{self.algorithm}") == value
        if not same and data is not None:
            import hashlib

            same = headers.get("etag", "").strip('"') == hashlib.md5(data).hexdigest()
        if not same:
            return None
        return ObjectResult(source.key, True, 0, source.path, skipped=True,
                            notes=("exists with the same size and checksum: skipped",))

    def _composite(self, source: Source) -> str:
        """The checksum S3 gives this file as a multipart upload in ``part_size`` parts."""
        parts = [self.checksum(source.read(offset, min(self.part_size, source.size - offset)))
                 for offset in range(0, source.size, self.part_size)]
        return _composite_of(self.algorithm, parts)

    def _check_echo(self, response: RawResponse, value: str, key: str, what: str) -> None:
        told = lowercase_keys(response.headers).get(f"x-amz-checksum-{self.algorithm}")
        if told is not None and told != value:
            raise _Failed("ChecksumMismatch", f"{key!r}{what}: S3 computed {self.algorithm} {told}, sent {value}")

    def _progress(self, key: str, nbytes: int) -> None:
        if self.on_progress is not None:
            self.on_progress(key, nbytes)


def _composite_of(algorithm: str, part_checksums: list[str]) -> str:
    """S3's COMPOSITE checksum: the checksum of the parts' raw checksums, then ``-N``."""
    hasher = _checksum_class(algorithm)()
    for value in part_checksums:
        hasher.update(base64.b64decode(value))
    return f"{hasher.b64digest()}-{len(part_checksums)}"


def _failure(response: RawResponse, key: str) -> _Failed | None:
    """The failure a response means, or ``None``. A 200 with an ``<Error>`` body (S3 may answer
    CompleteMultipartUpload so) is a failure too."""
    error = response.error
    if error is not None:
        return _Failed(getattr(error, "code", "") or type(error).__name__, f"{key!r}: {error}")
    if response.status >= 300:
        return _Failed(*_service_error(response, key))
    if response.body[:200].lstrip().startswith(b"<?xml") and b"<Error>" in response.body[:400]:
        return _Failed(*_service_error(dataclasses.replace(response, status=500), key))
    return None


def _raise_for(response: RawResponse, key: str) -> None:
    failure = _failure(response, key)
    if failure is not None:
        raise failure


def _guess_type(key: str) -> str | None:
    import mimetypes

    return mimetypes.guess_type(key, strict=False)[0]


def _finished(result: ObjectResult) -> Plan[ObjectResult]:
    """A plan with nothing to send: its result."""
    return result
    yield  # a generator  # noqa: B901


def _plans(uploader: _Uploader, items: Any, prefix: str) -> Iterator[Plan[ObjectResult]]:
    for source in sources(items, prefix):
        if isinstance(source, SourceError):
            yield _finished(ObjectResult(source.name, False, error_code=source.code, error=source.message))
        elif not source.key or len(source.key.encode("utf-8")) > 1024:
            yield _finished(ObjectResult(source.key, False, path=source.path, error_code="InvalidKey",
                                         error=f"{source.key!r}: a key is 1 to 1024 bytes of UTF-8"))
        else:
            yield uploader.plan(source)


def _run_in_threads(uploader: _Uploader, engine: Engine, items: Any, prefix: str, workers: int) -> Iterator[ObjectResult]:
    """Every object's plan run whole inside ``workers`` threads; uploads left open by a stop are aborted."""
    sender = engine.plan_sender(uploader.signer.resign)
    try:
        yield from run_plans(_plans(uploader, items, prefix), sender, workers=workers, handoff=_HANDOFF)
    finally:
        uploader.abort_open()


async def _arun_on_loop(uploader: _Uploader, engine: Any, items: Any, prefix: str, workers: int) -> AsyncIterator[ObjectResult]:
    """Every object's plan run whole as a task on the running loop; open uploads aborted on a stop."""
    async with engine.aplan_sender(uploader.signer.resign) as sender:
        async def plans() -> AsyncIterator[Plan[ObjectResult]]:
            for plan in _plans(uploader, items, prefix):
                yield plan

        try:
            async for result in arun_plans(plans(), sender, workers=workers, handoff=_HANDOFF):
                yield result
        finally:
            import asyncio

            await asyncio.to_thread(uploader.abort_open)


def _prepare(
    bucket: str, *, mode: str, concurrency: int | None, config: EngineConfig | None, engine: Engine | None,
    signer: Signer | None, session: Any, region: str | None, endpoint_url: str | None, profile: str | None,
    presigned: bool | None, checksum: str, content_type: str | None, metadata: Mapping[str, str] | None,
    storage_class: str | None, multipart_threshold: int, part_size: int, skip_existing: bool,
    on_progress: Progress | None,
) -> tuple[_Uploader, Engine, bool, int]:
    checksum = checksum.lower()
    if checksum not in CHECKSUMS:
        raise ConfigurationError(f"checksum {checksum!r} is not one of: {', '.join(CHECKSUMS)}")
    if _checksum_class(checksum) is None:
        raise ConfigurationError(f"checksum {checksum!r} needs awscrt: pip install 'botocore[crt]'")
    if part_size < 1 or multipart_threshold < 1:
        raise ConfigurationError("part_size and multipart_threshold must be positive")
    if mode == "auto":
        mode = auto_mode(None, None, concurrency or (config.concurrency if config else None))
    signer, config = _resolve(mode, concurrency, config, signer, session, region, endpoint_url, profile)
    from awspar.engines import engine_for_run

    engine, own_engine = engine_for_run(mode, config, engine, session=session, region=region,
                                        endpoint_url=endpoint_url, profile=profile)
    uploader = _Uploader(
        bucket, signer, presigned=not engine.signs_itself if presigned is None else presigned, checksum=checksum,
        content_type=content_type, metadata=metadata, storage_class=storage_class, threshold=multipart_threshold,
        part_size=part_size, skip_existing=skip_existing, config=engine.config, on_progress=on_progress,
    )
    return uploader, engine, own_engine, engine.config.max_in_flight


def put_objects(
    bucket: str,
    sources: Any,
    *,
    prefix: str = "",
    mode: str = "threads",
    concurrency: int | None = None,
    config: EngineConfig | None = None,
    engine: Engine | None = None,
    signer: Signer | None = None,
    session: Any = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    presigned: bool | None = None,
    checksum: str = "crc32",
    content_type: str | None = None,
    metadata: Mapping[str, str] | None = None,
    storage_class: str | None = None,
    multipart_threshold: int = 16 * MiB,
    part_size: int = 8 * MiB,
    skip_existing: bool = False,
    on_progress: Progress | None = None,
) -> Iterator[ObjectResult]:
    """Upload ``sources`` to ``bucket``; yield an :class:`~awspar.s3.ObjectResult` per object as
    each completes (``path`` is the local file; see the module docstring for how it goes).

    - ``sources``: a file or directory path, ``(key, bytes)``, or an iterable of them; every key
      gets ``prefix`` in front.
    - ``mode`` / ``concurrency`` / ``config`` / ``engine``, ``signer`` / ``session`` / ``profile``
      / ``region`` / ``endpoint_url``, ``presigned``: as for :func:`~awspar.s3.get_objects`.
    - ``checksum``: ``crc32`` (default), ``crc32c`` (needs awscrt), ``sha1`` or ``sha256``: sent
      with every PUT and part, and checked by S3.
    - ``content_type``: for every object (default: guessed from the key, else S3's default);
      ``metadata`` (``x-amz-meta-*``) and ``storage_class`` for every object.
    - ``multipart_threshold`` / ``part_size``: objects of at least 16 MiB go in 8 MiB parts (S3
      takes parts of 5 MiB to 5 GiB, at most 10,000 of them).
    - ``skip_existing``: leave alone objects whose size and checksum already match.
    - ``on_progress(key, nbytes)``: called as bytes are accepted (per PUT and per part).

    Stopping the iteration early, or Ctrl-C, cancels what is in flight and aborts the multipart
    uploads it had opened.

    >>> for result in put_objects("my-bucket", ["a.txt", ("b.txt", b"bytes")]):  # doctest: +SKIP
    ...     print(result.key, result.ok, result.verified, result.error_code)
    """
    uploader, engine, own_engine, workers = _prepare(
        bucket, mode=mode, concurrency=concurrency, config=config, engine=engine, signer=signer, session=session,
        region=region, endpoint_url=endpoint_url, profile=profile, presigned=presigned, checksum=checksum,
        content_type=content_type, metadata=metadata, storage_class=storage_class,
        multipart_threshold=multipart_threshold, part_size=part_size, skip_existing=skip_existing,
        on_progress=on_progress,
    )
    if engine.native_async:
        results = _on_loop_thread(lambda: _arun_on_loop(uploader, engine, sources, prefix, workers), engine)
    else:
        results = _run_in_threads(uploader, engine, sources, prefix, workers)
    return closing(results, engine if own_engine else None)


async def aput_objects(
    bucket: str,
    sources: Any,
    *,
    prefix: str = "",
    mode: str = "async",
    concurrency: int | None = None,
    config: EngineConfig | None = None,
    engine: Engine | None = None,
    signer: Signer | None = None,
    session: Any = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    presigned: bool | None = None,
    checksum: str = "crc32",
    content_type: str | None = None,
    metadata: Mapping[str, str] | None = None,
    storage_class: str | None = None,
    multipart_threshold: int = 16 * MiB,
    part_size: int = 8 * MiB,
    skip_existing: bool = False,
    on_progress: Progress | None = None,
) -> AsyncIterator[ObjectResult]:
    """Async twin of :func:`put_objects` (same arguments; ``mode`` defaults to ``"async"``).

    >>> async for result in aput_objects("my-bucket", "./out"):  # doctest: +SKIP
    ...     print(result.key, result.ok)
    """
    uploader, engine, own_engine, workers = _prepare(
        bucket, mode=mode, concurrency=concurrency, config=config, engine=engine, signer=signer, session=session,
        region=region, endpoint_url=endpoint_url, profile=profile, presigned=presigned, checksum=checksum,
        content_type=content_type, metadata=metadata, storage_class=storage_class,
        multipart_threshold=multipart_threshold, part_size=part_size, skip_existing=skip_existing,
        on_progress=on_progress,
    )
    try:
        if engine.native_async:
            async for result in _arun_on_loop(uploader, engine, sources, prefix, workers):
                yield result
        else:
            from awspar.engines.base import _iterate_in_thread

            def in_threads(items: Any) -> Iterator[ObjectResult]:
                return _run_in_threads(uploader, engine, items, prefix, workers)

            async for result in _iterate_in_thread(in_threads, sources, _HANDOFF):
                yield result
    finally:
        if own_engine:
            await engine.aclose()
