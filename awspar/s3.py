"""Fetch many S3 objects at once: into memory or into a directory, verified, with any engine.

:func:`get_objects` (and its async twin :func:`aget_objects`) takes a bucket and keys (a list, an
iterable, everything under a prefix, or both) and yields one :class:`ObjectResult` per key as
each one completes. How it goes, per key:

1. **One request for most objects.** A presigned GET (the signer's fast path) asks for the first
   ``multipart_threshold`` bytes (``Range: bytes=0-...``): an object smaller than that arrives
   whole in this one request, and ``Content-Range`` tells the size of a larger one. When a
   listing already told the size, an object under the threshold is fetched with a plain GET and
   a larger one goes straight to step 2.
2. **Large objects in parallel parts.** The rest of a large object is fetched in ``part_size``
   byte ranges at once, each written in place (:class:`~awspar.FileSink`) into a preallocated
   temporary file, each carrying ``If-Match`` with the object's ETag so that an object replaced
   mid-download fails with ``PreconditionFailed`` instead of mixing two versions.
3. **Verified.** The length always; the MD5 against a single-part ETag; otherwise the object's
   own checksum, asked for with a ``HeadObject`` with ``ChecksumMode=ENABLED`` (see
   :mod:`awspar._s3_integrity`; CRC32C/CRC64NVME need ``awscrt``). A large object's file is
   hashed while its later parts still download (:mod:`awspar._s3_filecheck`).
4. **Written safely.** Into a temporary file beside the target (``.awspar-*.tmp``), renamed over
   the target only once complete and verified. A failure, a cancellation or Ctrl-C leaves no
   partial or temporary file. Keys are mapped to paths by :mod:`awspar._s3_paths` (traversal
   keys are refused per key, never escaped).

Failures do not stop the others: each key's :class:`ObjectResult` carries its error code
(``NoSuchKey``, ``AccessDenied``, ``SlowDown`` after the engine's retries, ``UnsafeKey``...).
Retries, backoff and re-signing of expired URLs are the engine's (:class:`~awspar.EngineConfig`),
with the signer's ``resign`` passed per call (``resign=``), so a caller's shared engine works too.
A listing error (say ``NoSuchBucket``) ends the whole run with :class:`~awspar.ServiceError`.

Requests in flight: the main stream of first requests is bounded by ``concurrency``; each large
object in progress (at most :data:`LARGE_OBJECTS_AT_ONCE`) runs its parts as a run of its own,
bounded by ``concurrency`` too.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._errors import ServiceError
from awspar._models import FileSink, RawResponse, SignedRequest, Span
from awspar._s3_integrity import (
    Expected,
    Verification,
    expected_from_headers,
    header,
    object_size,
    verify_bytes,
    verify_file,
)
from awspar._s3_keys import ObjectRef, alist_pages
from awspar._s3_paths import KeyPathError, is_folder_marker, key_to_path, prepare_parent

if TYPE_CHECKING:  # pragma: no cover
    import asyncio

    from awspar._s3_filecheck import FileCheck
    from awspar.engines.base import Engine
    from awspar.signer import Signer

__all__ = ["LARGE_OBJECTS_AT_ONCE", "MiB", "ObjectResult", "aget_objects", "get_objects"]

MiB = 1024 * 1024
#: Large objects whose parts are fetched at the same time.
LARGE_OBJECTS_AT_ONCE = 2
#: Presigned URLs live this long; the engine re-signs any that would expire before being sent.
_PRESIGN_EXPIRES = 3600
# Files below this size are verified inline, larger ones on a helper thread (the loop keeps going).
_INLINE_VERIFY = 4 * MiB
_ERROR_BODY_MAX = 64 * 1024
#: Seconds :func:`get_objects` waits for a stopped fetch to clean up before giving up on it.
_CLEANUP_WAIT = 30.0
# Results waiting for the caller of the sync API at most (the fetch pauses past that).
_HANDOFF = 64

#: ``on_progress(key, nbytes)``: ``nbytes`` more bytes of ``key`` have landed (per response).
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class ObjectResult:
    """What happened to one key.

    ``ok`` is True when the object arrived and passed every check that could be made
    (``verified`` names them: ``"length"``, ``"md5"``, ``"crc32"``...; ``notes`` says what could not
    be checked and why). ``skipped`` objects (folder markers, existing files with
    ``skip_existing``) are ``ok`` with no bytes. ``path`` is the file written (directory mode),
    ``data`` the bytes (memory mode). On failure ``error_code`` is AWS's code (``NoSuchKey``...)
    or awspar's (``UnsafeKey``, ``FileExists``, ``IncompleteBodyError``, ``ChecksumMismatch``...)
    and ``error`` a one-line message without secrets. ``elapsed`` is seconds from the first
    request to the result; ``spans`` every HTTP attempt made for this key.
    """

    key: str
    ok: bool
    size: int = 0
    path: str | None = None
    data: bytes | None = field(default=None, repr=False)
    error_code: str | None = None
    error: str | None = None
    verified: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    skipped: bool = False
    elapsed: float = 0.0
    spans: tuple[Span, ...] = field(default=(), repr=False)

    @property
    def requests(self) -> int:
        """HTTP attempts made for this key (retries and parts included)."""
        return len(self.spans)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the data."""
        return {
            "key": self.key, "ok": self.ok, "size": self.size, "path": self.path, "skipped": self.skipped,
            "error_code": self.error_code, "error": self.error, "verified": list(self.verified),
            "notes": list(self.notes), "elapsed": round(self.elapsed, 6), "requests": self.requests,
        }


class _Failed(Exception):
    """One key failed: ``code`` and a one-line message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Object:
    """One key in progress."""

    ref: ObjectRef
    started: float
    path: str | None = None
    tmp: str | None = None
    spans: list[Span] = field(default_factory=list)
    chunks: dict[int, bytes] = field(default_factory=dict)  # memory mode: offset -> bytes
    check: FileCheck | None = None  # file mode, in parts: the verification running beside them

    def sink(self, offset: int) -> FileSink | None:
        return None if self.tmp is None else FileSink(self.tmp, offset)

    def discard(self) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            self.tmp = None


class _Fetcher:
    """The shared state of one :func:`aget_objects` run."""

    def __init__(
        self, bucket: str, signer: Signer, engine: Engine, *, out_dir: str | None, presigned: bool,
        part_size: int, threshold: int, overwrite: bool, skip_existing: bool, verify_checksums: bool,
        on_progress: Progress | None,
    ) -> None:
        self.bucket = bucket
        self.signer = signer
        self.engine = engine
        self.out_dir = out_dir
        self.out_real = None if out_dir is None else os.path.realpath(out_dir)
        self.presigned = presigned
        self.part_size = part_size
        self.threshold = threshold
        self.overwrite = overwrite
        self.skip_existing = skip_existing
        self.verify_checksums = verify_checksums
        self.on_progress = on_progress
        import asyncio  # lazily: importing awspar.s3 (the CLI's --help) does not need it

        self.active: dict[int, _Object] = {}
        self.large = asyncio.Semaphore(LARGE_OBJECTS_AT_ONCE)
        mask = os.umask(0)
        os.umask(mask)
        self.file_mode = 0o666 & ~mask

    # -- requests -------------------------------------------------------------------------------
    def get(self, key: str, first: int | None = None, last: int | None = None, etag: str | None = None) -> SignedRequest:
        """A signed GET of ``key`` (bytes ``first..last`` when given, only if still ``etag``)."""
        byte_range = None if first is None else f"bytes={first}-{'' if last is None else last}"
        if not self.presigned:
            params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
            if byte_range:
                params["Range"] = byte_range
            if etag:
                params["IfMatch"] = f'"{etag}"'
            return self.signer.sign("GetObject", params)
        request = self.signer.presign("GetObject", {"Bucket": self.bucket, "Key": key}, expires_in=_PRESIGN_EXPIRES)
        extra = {}
        if byte_range:
            extra["Range"] = byte_range
        if etag:
            extra["If-Match"] = f'"{etag}"'
        return dataclasses.replace(request, headers={**request.headers, **extra}) if extra else request

    def head_with_checksum(self, key: str, etag: str | None) -> SignedRequest:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if etag:
            params["IfMatch"] = f'"{etag}"'
        if self.presigned:
            return self.signer.presign("HeadObject", params, expires_in=_PRESIGN_EXPIRES)
        return self.signer.sign("HeadObject", params)

    # -- one key: before any request -----------------------------------------------------------
    def begin(self, ref: ObjectRef) -> _Object | ObjectResult:
        """Map the key to its file and make the temporary file, or the result that needs no request."""
        obj = _Object(ref, time.perf_counter())
        if self.out_dir is None:
            return obj
        key = ref.key
        if is_folder_marker(key):
            return ObjectResult(key, True, skipped=True, notes=("folder marker (key ends with '/'): not written",))
        try:
            path = key_to_path(self.out_dir, key)
            if os.path.lexists(path):
                if self.skip_existing:
                    return ObjectResult(key, True, path=path, skipped=True, notes=("exists: skipped",))
                if not self.overwrite:
                    raise _Failed("FileExists", f"{path} exists (overwrite or skip existing files to go on)")
            prepare_parent(self.out_real or "", path, key)
            fd, tmp = tempfile.mkstemp(prefix=".awspar-", suffix=".tmp", dir=os.path.dirname(path))
            os.close(fd)
        except KeyPathError as exc:
            return ObjectResult(key, False, error_code=exc.code, error=exc.message)
        except _Failed as exc:
            return ObjectResult(key, False, path=path, error_code=exc.code, error=exc.message)
        except OSError as exc:
            return ObjectResult(key, False, error_code="LocalFileError", error=f"{key!r}: {exc.strerror or exc}")
        obj.path, obj.tmp = path, tmp
        return obj

    def first_job(self, obj: _Object) -> tuple[SignedRequest, FileSink] | SignedRequest:
        """The first GET: the first ``threshold`` bytes, or the whole object when its size is known small."""
        ref = obj.ref
        if ref.size is not None and ref.size < self.threshold:
            request = self.get(ref.key)
        else:
            request = self.get(ref.key, 0, self.threshold - 1)
        sink = obj.sink(0)
        return request if sink is None else (request, sink)

    # -- one key: after its first response ------------------------------------------------------
    async def finish(self, obj: _Object, first: RawResponse | None) -> ObjectResult:
        """Fetch what is left, verify, commit; always leaves no temporary file behind."""
        try:
            if first is not None and first.status == 416 and first.request and "Range" in _headers_of(first):
                obj.spans.extend(first.spans)  # an empty object: S3 refuses any range of it
                first = await self.engine.asend(self._job(obj, self.get(obj.ref.key), 0), resign=self.signer.resign)
            headers, size = await self._fetch(obj, first)
            if obj.check is not None:
                verification = await obj.check.result()
            else:
                verification = await self._verify(obj, headers, size)
            if not verification.ok:
                raise _Failed("ChecksumMismatch", f"{obj.ref.key!r}: {verification.error}")
            data = None
            if obj.tmp is not None:
                self._commit(obj)
            else:
                data = b"".join(obj.chunks[offset] for offset in sorted(obj.chunks))
            return ObjectResult(obj.ref.key, True, size, obj.path, data, verified=verification.checked,
                                notes=verification.notes, elapsed=time.perf_counter() - obj.started,
                                spans=tuple(obj.spans))
        except _Failed as exc:
            return ObjectResult(obj.ref.key, False, 0, obj.path, error_code=exc.code, error=exc.message,
                                elapsed=time.perf_counter() - obj.started, spans=tuple(obj.spans))
        finally:
            if obj.check is not None:
                await obj.check.stop()
            obj.discard()

    async def _fetch(self, obj: _Object, first: RawResponse | None) -> tuple[dict[str, str], int]:
        """The object's bytes in place; returns the headers to verify against and the size."""
        ref = obj.ref
        if first is None:  # size known from the listing and large: all parts at once
            size = ref.size or 0
            if obj.tmp is not None:
                os.truncate(obj.tmp, size)
            responses = await self._parts(obj, range(0, size, self.part_size), size, ref.etag)
            return dict(responses[0].headers), size
        self._accept(obj, first, expect_range=None)
        headers = dict(first.headers)
        told = object_size(headers)
        if told is None:
            raise _Failed("InvalidResponse", f"{ref.key!r}: the response tells no object size")
        size = told
        received = _length_of(first)
        if first.status == 206 and received < size:
            if obj.tmp is not None:
                os.truncate(obj.tmp, size)
                obj.check = _file_check(obj.tmp, self._expected(obj, headers, size))
                obj.check.add(0, received)
            etag = (header(headers, "ETag") or "").strip('"') or None
            await self._parts(obj, range(received, size, self.part_size), size, etag)
        return headers, size

    async def _parts(self, obj: _Object, starts: range, size: int, etag: str | None) -> list[RawResponse]:
        """Fetch ``[start, start + part_size)`` for every start, as one run of the engine. Into a
        file, each part is handed in file order to the object's :class:`FileCheck` (made from the
        first part's headers when there is none yet), so verifying overlaps the download; the
        first part that fails ends the run."""
        key = obj.ref.key
        jobs = [self._job(obj, self.get(key, start, min(start + self.part_size, size) - 1, etag), start)
                for start in starts]
        responses: list[RawResponse] = []
        async with self.large:
            parts = self.engine.amap(jobs, resign=self.signer.resign)
            try:
                async for response in parts:
                    start = starts[len(responses)]
                    end = min(start + self.part_size, size)
                    self._accept(obj, response, expect_range=(start, end - 1, size))
                    responses.append(response)
                    if obj.tmp is not None:
                        if obj.check is None:
                            obj.check = _file_check(obj.tmp, self._expected(obj, dict(response.headers), size))
                        obj.check.add(start, end)
            finally:
                await parts.aclose()  # type: ignore[attr-defined]
        return responses

    def _job(self, obj: _Object, request: SignedRequest, offset: int) -> Any:
        sink = obj.sink(offset)
        return request if sink is None else (request, sink)

    def _accept(self, obj: _Object, response: RawResponse, expect_range: tuple[int, int, int] | None) -> None:
        """Record one response's spans and bytes, or raise :class:`_Failed` with its error code."""
        obj.spans.extend(response.spans)
        key = obj.ref.key
        if response.error is not None:
            error = response.error
            raise _Failed(getattr(error, "code", "") or type(error).__name__, f"{key!r}: {error}")
        if response.status >= 300:
            raise _Failed(*_service_error(response, key))
        start = 0
        if expect_range is not None:
            first, last, size = expect_range
            content_range = header(response.headers, "Content-Range") or ""
            if response.status != 206 or content_range.replace("bytes ", "", 1) != f"{first}-{last}/{size}":
                raise _Failed("InvalidResponse", f"{key!r}: asked bytes {first}-{last}/{size}, got "
                                                 f"HTTP {response.status} {content_range or 'without Content-Range'}")
            start = first
        if obj.tmp is None:
            obj.chunks[start] = response.body
        if self.on_progress is not None:
            self.on_progress(key, _length_of(response))

    async def _expected(self, obj: _Object, headers: dict[str, str], size: int) -> Expected:
        """What the object's bytes must match: its headers' word, or its own checksum when they
        give neither an MD5 nor a checksum (and checksums are to be verified)."""
        expected = expected_from_headers(headers)
        if expected.md5_hex is None and expected.checksum is None and self.verify_checksums and size > 0:
            expected = await self._checksum_expectation(obj, headers, expected)
        return expected

    async def _verify(self, obj: _Object, headers: dict[str, str], size: int) -> Verification:
        expected = await self._expected(obj, headers, size)
        if obj.tmp is None:
            return verify_bytes(b"".join(obj.chunks[o] for o in sorted(obj.chunks)), expected)
        if size <= _INLINE_VERIFY:
            return verify_file(obj.tmp, expected)
        import asyncio

        return await asyncio.to_thread(verify_file, obj.tmp, expected)

    async def _checksum_expectation(self, obj: _Object, headers: dict[str, str], expected: Expected) -> Expected:
        """Ask S3 for the object's own checksum (HeadObject, ChecksumMode=ENABLED)."""
        etag = (header(headers, "ETag") or "").strip('"') or None
        head = await self.engine.asend(self.head_with_checksum(obj.ref.key, etag), resign=self.signer.resign)
        obj.spans.extend(head.spans)
        if head.error is not None or head.status >= 300:
            unavailable = f"object checksum not available: HeadObject answered {head.status or head.error}"
            return dataclasses.replace(expected, notes=(*expected.notes, unavailable))
        from_head = expected_from_headers(head.headers)
        if from_head.checksum is None:
            why = tuple(note for note in from_head.notes if not note.startswith("md5")) or ("no object checksum",)
            return dataclasses.replace(expected, notes=(*expected.notes, *why))
        return dataclasses.replace(expected, checksum=from_head.checksum)

    def _commit(self, obj: _Object) -> None:
        """Rename the verified temporary file onto its target (never clobbering unless overwriting)."""
        assert obj.tmp is not None and obj.path is not None
        os.chmod(obj.tmp, self.file_mode)
        if self.overwrite:
            os.replace(obj.tmp, obj.path)
        else:
            try:
                os.link(obj.tmp, obj.path)  # atomic "create only if absent"
            except FileExistsError:
                raise _Failed("FileExists", f"{obj.path} exists (another key maps to it, or it appeared "
                                            "during the run)") from None
            except OSError:  # a file system without hard links
                if os.path.lexists(obj.path):
                    raise _Failed("FileExists", f"{obj.path} exists") from None
                os.replace(obj.tmp, obj.path)
                obj.tmp = None
                return
            os.unlink(obj.tmp)
        obj.tmp = None

    # -- the run --------------------------------------------------------------------------------
    async def run(self, refs: AsyncIterator[ObjectRef]) -> AsyncIterator[ObjectResult]:
        """Every key's result, as each completes."""
        import asyncio

        window = 2 * self.engine.config.concurrency
        out: asyncio.Queue[Any] = asyncio.Queue(maxsize=window)
        index = itertools.count()
        done = object()

        async def jobs() -> AsyncIterator[Any]:
            async for ref in refs:
                obj = self.begin(ref)
                if isinstance(obj, ObjectResult):
                    await out.put(obj)
                    continue
                if ref.size is not None and ref.size >= self.threshold:
                    spawn(self.finish(obj, None))
                    continue
                job = self.first_job(obj)
                self.active[next(index)] = obj
                yield job

        tasks: set[asyncio.Task[None]] = set()

        def spawn(work: Any) -> None:
            async def deliver() -> None:
                await out.put(await work)
            task = asyncio.ensure_future(deliver())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        async def pump() -> None:
            try:
                async for response in self.engine.aas_completed(jobs(), resign=self.signer.resign):
                    obj = self.active.pop(response.index)
                    if _single_response(response, self.threshold):
                        await out.put(await self.finish(obj, response))
                    else:
                        spawn(self.finish(obj, response))
                # A finished task leaves the set here, not only by its done callback: from 3.12 a
                # gather of finished tasks completes eagerly and `await` does not yield, so a task
                # whose discard callback was still queued would make this loop spin for ever.
                while tasks:
                    batch = list(tasks)
                    await asyncio.gather(*batch)
                    tasks.difference_update(batch)
                await out.put(done)
            except BaseException as exc:
                await out.put(exc)
                raise

        pumping = asyncio.ensure_future(pump())
        try:
            while (item := await out.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            for task in (pumping, *tasks):
                task.cancel()
            await asyncio.gather(pumping, *tasks, return_exceptions=True)
            for obj in self.active.values():
                obj.discard()
            self.active.clear()


def _file_check(path: str, expected: Awaitable[Expected]) -> FileCheck:
    from awspar._s3_filecheck import FileCheck  # lazily: it needs asyncio, which awspar.s3 does not load

    return FileCheck(path, expected)


def _single_response(response: RawResponse, threshold: int) -> bool:
    """True when the first response is the whole object (no more requests needed)."""
    if response.status != 206:
        return response.status != 416
    size = object_size(response.headers)
    return size is not None and size <= _length_of(response)


def _headers_of(response: RawResponse) -> dict[str, str]:
    return dict(response.request.headers) if response.request is not None else {}


def _length_of(response: RawResponse) -> int:
    length = header(response.headers, "Content-Length")
    return int(length) if length is not None and length.isdigit() else len(response.body)


def _service_error(response: RawResponse, key: str) -> tuple[str, str]:
    """``(code, message)`` of an error response, parsed by :mod:`awspar.parsing`."""
    from awspar.parsing import parse

    body = response.body
    if response.path is not None and not body:  # the error body went into the sink file
        body = _read_error_body(response)
    request = response.request
    operation = request.operation if request is not None and request.operation else "s3.GetObject"
    try:
        parse(operation, response.status, response.headers, body)
    except ServiceError as exc:
        return exc.code or str(response.status), f"{key!r}: {exc}"
    except Exception as exc:  # noqa: BLE001 - an unparsable error body still has a status
        return str(response.status), f"{key!r}: HTTP {response.status} ({type(exc).__name__})"
    return str(response.status), f"{key!r}: HTTP {response.status}"


def _read_error_body(response: RawResponse) -> bytes:
    request = response.request
    assert response.path is not None
    offset = 0
    if request is not None:
        range_header = header(request.headers, "Range") or ""
        if range_header.startswith("bytes="):
            offset = int(range_header[6:].split("-", 1)[0] or 0)
    try:
        with open(response.path, "rb") as handle:
            handle.seek(offset)
            return handle.read(min(_length_of(response), _ERROR_BODY_MAX))
    except OSError:
        return b""


# -- the public functions ---------------------------------------------------------------------------

async def _refs(bucket: str, keys: Any, prefix: str | None, signer: Signer, engine: Engine) -> AsyncIterator[ObjectRef]:
    """The keys to fetch: ``keys`` first, then everything under ``prefix``."""
    if isinstance(keys, str):
        keys = [keys]
    if isinstance(keys, AsyncIterable):
        async for key in keys:
            yield ObjectRef(key)
    elif keys is not None:
        for key in keys:
            yield ObjectRef(key)
    if prefix is None:
        return
    from awspar.parsing import parse_response

    async def fetch_page(token: str | None) -> dict[str, Any]:
        params = {"Bucket": bucket, "Prefix": prefix}
        if token:
            params["ContinuationToken"] = token
        return parse_response(await engine.asend(signer.sign("ListObjectsV2", params), resign=signer.resign))

    async for page in alist_pages(fetch_page):
        for ref in page:
            yield ref


def _resolve(
    mode: str, concurrency: int | None, config: EngineConfig | None, signer: Signer | None,
    session: Any, region: str | None, endpoint_url: str | None, profile: str | None,
) -> tuple[Signer, EngineConfig]:
    config = config or DEFAULT_CONFIG
    if concurrency is not None:
        config = config.with_(concurrency=concurrency)
    if mode == "sequential":
        config = config.with_(concurrency=1)
    if signer is None:
        from awspar.signer import Signer, botocore_session

        if session is None:  # botocore's own: presigned URLs need no boto3 (~40 ms of imports)
            session, profile = botocore_session(profile), None
        signer = Signer("s3", session=session, region=region, endpoint_url=endpoint_url, profile=profile)
    return signer, config


async def aget_objects(
    bucket: str,
    keys: Iterable[str] | AsyncIterable[str] | str | None = None,
    *,
    prefix: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
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
    skip_existing: bool = False,
    overwrite: bool = False,
    part_size: int = 8 * MiB,
    multipart_threshold: int = 16 * MiB,
    verify_checksums: bool = True,
    on_progress: Progress | None = None,
) -> AsyncIterator[ObjectResult]:
    """Async twin of :func:`get_objects` (same arguments; ``mode`` defaults to ``"async"``).

    Never blocks the event loop: signing is microseconds per key on the fast path, blocking
    engines run behind their awaitable twins, large files are verified on a helper thread.

    >>> async for result in aget_objects("my-bucket", prefix="2026/11/", out_dir="data"):  # doctest: +SKIP
    ...     print(result.key, result.ok, result.error_code)
    """
    if part_size < 1 or multipart_threshold < 1:
        raise ValueError("part_size and multipart_threshold must be positive")
    if skip_existing and overwrite:
        raise ValueError("choose skip_existing or overwrite, not both")
    signer, config = _resolve(mode, concurrency, config, signer, session, region, endpoint_url, profile)
    own_engine = engine is None
    if engine is None:
        from awspar.engines import get_engine

        options: dict[str, Any] = {}
        if mode == "boto3":  # the baseline calls boto3 itself and needs the credentials and endpoint
            import boto3

            options = {"session": session or boto3.Session(profile_name=profile, region_name=region),
                       "endpoint_url": endpoint_url}
        engine = get_engine(mode, config, **options)  # re-signing is per call: see _Fetcher
    if presigned is None:
        presigned = engine.name != "boto3"  # boto3 calls get_object itself, from the parameters
    directory = None if out_dir is None else os.fspath(out_dir)
    if directory is not None:
        os.makedirs(directory, exist_ok=True)
    fetcher = _Fetcher(
        bucket, signer, engine, out_dir=directory, presigned=presigned, part_size=part_size,
        threshold=multipart_threshold, overwrite=overwrite, skip_existing=skip_existing,
        verify_checksums=verify_checksums, on_progress=on_progress,
    )
    try:
        async for result in fetcher.run(_refs(bucket, keys, prefix, signer, engine)):
            yield result
    finally:
        if own_engine:
            await engine.aclose()


def get_objects(
    bucket: str,
    keys: Iterable[str] | str | None = None,
    *,
    prefix: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
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
    skip_existing: bool = False,
    overwrite: bool = False,
    part_size: int = 8 * MiB,
    multipart_threshold: int = 16 * MiB,
    verify_checksums: bool = True,
    on_progress: Progress | None = None,
) -> Iterator[ObjectResult]:
    """Fetch ``keys`` (and/or everything under ``prefix``) of ``bucket``; yield an
    :class:`ObjectResult` per key as each completes.

    - ``out_dir``: write each object to ``out_dir/<key>`` (safely; see the module docstring);
      without it each result carries the bytes in ``data``.
    - ``mode``: the engine (``sequential``, ``threads``, ``async``, ``subinterpreters``,
      ``processes``, ``boto3``), or pass a ready ``engine`` (shared, not closed; whatever its own
      ``resign``, stale requests of this fetch are re-signed by this call's signer, per call, so
      that a re-signed part keeps its ``Range``); ``concurrency`` / ``config`` tune it.
    - ``signer`` or ``session`` / ``profile`` / ``region`` / ``endpoint_url``: whose credentials
      and which endpoint (the standard AWS settings apply as for boto3).
    - ``presigned``: presigned URLs (the fast path, default) or header-signed requests
      (default for ``mode="boto3"``, and for servers that refuse presigned URLs).
    - ``skip_existing`` / ``overwrite``: what to do with a file that is already there (default:
      fail that key with ``FileExists``).
    - ``part_size`` / ``multipart_threshold``: objects at least ``multipart_threshold`` bytes come
      in parallel ``part_size`` ranges (8 MiB and 16 MiB by default, as the S3 guidelines advise).
    - ``verify_checksums``: ask for the object's own checksum when its ETag is no MD5.
    - ``on_progress(key, nbytes)``: called as bytes land (per response, parts included).

    Stopping the iteration early, or Ctrl-C, cancels what is in flight and removes its
    temporary files.

    >>> for result in get_objects("my-bucket", ["a.txt", "b.txt"], out_dir="data"):  # doctest: +SKIP
    ...     print(result.key, result.ok, result.size, result.error_code)
    """
    agen = aget_objects(
        bucket, keys, prefix=prefix, out_dir=out_dir, mode=mode, concurrency=concurrency, config=config,
        engine=engine, signer=signer, session=session, region=region, endpoint_url=endpoint_url,
        profile=profile, presigned=presigned, skip_existing=skip_existing, overwrite=overwrite,
        part_size=part_size, multipart_threshold=multipart_threshold, verify_checksums=verify_checksums,
        on_progress=on_progress,
    )
    return _iterate_on_loop_thread(agen)


def _iterate_on_loop_thread(agen: AsyncIterator[ObjectResult]) -> Iterator[ObjectResult]:
    """Run an async iterator on a private loop in a helper thread and hand its items over.

    Leaving early (``break``, an exception, Ctrl-C in the caller) cancels the iterator and waits
    for its clean-up (temporary files removed) before returning, at most :data:`_CLEANUP_WAIT`
    seconds: past that, :class:`RuntimeError` says that the clean-up is stuck (the loop thread is
    a daemon and is left behind) instead of the caller hanging.
    """
    from awspar._loop_thread import LoopThread  # lazily: it needs asyncio, which awspar.s3 does not load

    portal = LoopThread(name="awspar-s3")
    stuck = (f"awspar.s3: the fetch did not finish cleaning up within {_CLEANUP_WAIT:g} s of being stopped "
             "(its loop thread is left running)")
    try:
        yield from portal.iterate(lambda: agen, _HANDOFF, unwind_timeout=_CLEANUP_WAIT, stuck=stuck)
    finally:
        portal.close()

