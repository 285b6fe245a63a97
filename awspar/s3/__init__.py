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
   :mod:`awspar.s3.integrity`; CRC32C/CRC64NVME need ``awscrt``). A large object's file is
   hashed while its later parts still download (:mod:`awspar.s3.filecheck`).
4. **Written safely.** Into a temporary file beside the target (``.awspar-*.tmp``), renamed over
   the target only once complete and verified. A failure, a cancellation or Ctrl-C leaves no
   partial or temporary file; those a killed run left (its process gone) are removed by the next
   run that writes into their directory (:mod:`awspar.s3.tempfiles`). Keys are mapped to paths by :mod:`awspar.s3.paths` (traversal
   keys are refused per key, never escaped).

Each key is fetched once per call, however many times it is named, or named and listed too.

Failures do not stop the others: each key's :class:`ObjectResult` carries its error code
(``NoSuchKey``, ``AccessDenied``, ``SlowDown`` after the engine's retries, ``UnsafeKey``...).
Retries, backoff and re-signing of expired URLs are the engine's (:class:`~awspar.EngineConfig`),
with the signer's ``resign`` passed per call (``resign=``), so a caller's shared engine works too.
A listing error (say ``NoSuchBucket``, or ``AccessDenied`` on a later page) stops the keys, not the
run: the keys listed before it are still fetched and yielded, then :class:`~awspar.ServiceError`
is raised.
Local file errors are not the network's and are never retried: a key whose file cannot be
written fails with ``LocalFileError`` (permission, too many open files: the message names the path
and what to do); a full disk fails its key with ``DiskFull`` and then ends the run with
:class:`~awspar.DiskFull` (no later file could be written, so the keys after it are not fetched);
an ``out_dir`` that cannot be written at all raises :class:`~awspar.LocalFileError` before
anything is sent.

Uploads are the other way round: :func:`put_objects` / :func:`aput_objects` (in
:mod:`awspar.s3.upload`) put files, directories or ``(key, bytes)`` to a bucket, each object
checked by S3 against its checksum, large ones as multipart uploads aborted on any failure.

How it runs: each key is a *plan* (:meth:`_Fetcher.plan`, a generator without I/O, see
:mod:`awspar.engines.plan`) and each runtime runs whole plans where the work is: as tasks on the
event loop for the async engine (no thread hop per object), inside ``concurrency`` worker threads
for the blocking engines (no event loop at all: an AWS Lambda handler never loads asyncio),
inline for ``sequential``. Requests in flight are bounded by ``concurrency`` either way, a large
object's parts included (they share the engine's slots).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import stat
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._errors import ConfigurationError, DiskFull, LocalFileError, ServiceError, local_file_error
from awspar._models import FileSink, RawResponse, SignedRequest, SinkFile, Span
from awspar.engines._attempts import Job
from awspar.engines.plan import (
    MORE,
    Blocking,
    Plan,
    Send,
    SendEach,
    Step,
    arun_plans,
    closing,
    on_loop_thread,
    run_plans,
)
from awspar.s3.integrity import (
    Expected,
    Verification,
    expected_from_headers,
    expected_from_lowered,
    header,
    lowercase_keys,
    size_from_lowered,
    verify_bytes,
    verify_file,
)
from awspar.s3.keys import ObjectRef, alist_pages, list_pages
from awspar.s3.paths import KeyPathError, is_folder_marker, key_to_path, prepare_parent
from awspar.s3.tempfiles import TEMP_PREFIX, StaleSweep, temp_name  # noqa: F401 - TEMP_PREFIX: still public here

if TYPE_CHECKING:  # pragma: no cover
    from awspar.engines.base import Engine
    from awspar.engines.plan import AsyncSender, SyncSender
    from awspar.s3.filecheck import FileCheck
    from awspar.signer import Signer

__all__ = ["CHECKSUMS", "MiB", "ObjectResult", "aget_objects", "aput_objects", "auto_mode", "get_objects", "put_objects"]

MiB = 1024 * 1024
_MD5_ETAG = re.compile(r"^[0-9a-fA-F]{32}$")
#: Presigned URLs live this long; the engine re-signs any that would expire before being sent.
_PRESIGN_EXPIRES = 3600
# Into a file, a first answer of at most this many bytes is held in memory until verified.
_IN_MEMORY = 1 * MiB
# Files below this size are verified inline, larger ones on a helper thread (the loop keeps going).
_INLINE_VERIFY = 4 * MiB
_ERROR_BODY_MAX = 64 * 1024
#: Seconds :func:`get_objects` waits for a stopped fetch to clean up before giving up on it.
_CLEANUP_WAIT = 30.0
# Results waiting for the caller of the sync API at most (the fetch pauses past that).
_HANDOFF = 64
#: ``fsync="large"`` flushes files of at least this many bytes to the disk before linking them.
FSYNC_THRESHOLD = 1 * MiB
_FSYNC_CHOICES = ("always", "large", "never")
# The placeholder result of a key taken up after the disk filled up (dropped before the caller).
_NOT_FETCHED = "NotFetched"

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
    and ``error`` a one-line message without secrets. ``spans`` holds every HTTP attempt made for
    this key. Two times, in seconds, up to the result: ``elapsed`` from the moment its first
    request was sent (the request time: backoffs and later parts included, not the wait for a
    free connection before it), ``wall_since_submit`` from the moment the fetch took the key up
    (``elapsed`` plus the time it waited in the client's queue for a slot; ``elapsed`` is 0 when
    no request was sent).
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
    wall_since_submit: float = 0.0

    @property
    def requests(self) -> int:
        """HTTP attempts made for this key (retries and parts included)."""
        return len(self.spans)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the data."""
        return {
            "key": self.key, "ok": self.ok, "size": self.size, "path": self.path, "skipped": self.skipped,
            "error_code": self.error_code, "error": self.error, "verified": list(self.verified),
            "notes": list(self.notes), "elapsed": round(self.elapsed, 6),
            "wall_since_submit": round(self.wall_since_submit, 6), "requests": self.requests,
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
    chunks: dict[int, bytes] = field(default_factory=dict)  # bodies held in memory: offset -> bytes
    check: FileCheck | None = None  # file mode, in parts: the verification running beside them
    existing: int | None = None  # skip_existing: the size of the file already there, to compare
    replace: bool = False  # commit over the file there (overwrite, or an existing file that differed)

    def times(self) -> dict[str, float]:
        """``elapsed`` (from the first request sent) and ``wall_since_submit``, as of now."""
        now = time.perf_counter()
        since_submit = now - self.started
        if not self.spans:
            return {"elapsed": 0.0, "wall_since_submit": since_submit}
        # perf_counter is system-wide on Linux (worker processes share it); a cluster worker's is
        # not, so the request time is kept within [0, the wall time]
        first_sent = min(span.start for span in self.spans)
        return {"elapsed": max(0.0, min(since_submit, now - first_sent)),
                "wall_since_submit": since_submit}

    def sink(self, offset: int, memory_limit: int = 0) -> FileSink | None:
        return None if self.tmp is None else FileSink(self.tmp, offset, memory_limit)

    def discard(self) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            self.tmp = None


class _Fetcher:
    """What every key of one :func:`get_objects` run shares, and the plan of one key
    (:meth:`plan`: a generator without I/O, see :mod:`awspar.engines.plan`)."""

    def __init__(
        self, bucket: str, signer: Signer, *, out_dir: str | None, presigned: bool,
        part_size: int, threshold: int, overwrite: bool, skip_existing: bool, verify_checksums: bool,
        on_progress: Progress | None, fsync: str = "large",
    ) -> None:
        self.bucket = bucket
        self.signer = signer
        self.out_dir = out_dir
        self.out_real = None if out_dir is None else os.path.realpath(out_dir)
        self.presigned = presigned
        self.part_size = part_size
        self.threshold = threshold
        self.overwrite = overwrite
        self.skip_existing = skip_existing
        self.verify_checksums = verify_checksums
        self.on_progress = on_progress
        self.fsync = fsync
        self.stale = StaleSweep()
        #: Set when a key failed for a full disk: the keys after it are not fetched.
        self.disk_full = False
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
        if not byte_range and not etag:
            return request
        headers = dict(request.headers)
        if byte_range:
            headers["Range"] = byte_range
        if etag:
            headers["If-Match"] = f'"{etag}"'
        return SignedRequest(request.method, request.url, headers, request.body, request.operation,
                             request.expires_at, request.params)

    def head_with_checksum(self, key: str, etag: str | None) -> SignedRequest:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if etag:
            params["IfMatch"] = f'"{etag}"'
        if self.presigned:
            return self.signer.presign("HeadObject", params, expires_in=_PRESIGN_EXPIRES)
        return self.signer.sign("HeadObject", params)

    # -- one key --------------------------------------------------------------------------------
    def plan(self, ref: ObjectRef) -> Plan[ObjectResult]:
        """Everything one key goes through: its file, its requests, verification, commit.

        Always leaves no temporary file behind, whether it returns, fails or is closed early."""
        obj = self.begin(ref)
        if isinstance(obj, ObjectResult):
            return obj
        try:
            if obj.existing is not None:
                kept = yield from self._kept(obj)
                if kept is not None:
                    return kept
            if ref.size is not None and ref.size >= self.threshold:  # known large: all parts at once
                size = ref.size
                expected = yield from self._parts(obj, size, None, 0, ref.etag)
            else:
                first = yield Send(self.first_job(obj))
                if first.status == 416 and first.request is not None and "Range" in first.request.headers:
                    obj.spans.extend(first.spans)  # an empty object: S3 refuses any range of it
                    first = yield Send(self._job(obj, self.get(ref.key), 0))
                self._accept(obj, first, expect_range=None)
                headers = lowercase_keys(first.headers)
                told = size_from_lowered(headers)
                if told is None:
                    raise _Failed("InvalidResponse", f"{ref.key!r}: the response tells no object size")
                size = told
                length = headers.get("content-length")
                received = int(length) if length is not None and length.isdigit() else len(first.body)
                etag = headers.get("etag", "").strip('"') or None
                if first.status == 206 and received < size:
                    expected = yield from self._parts(obj, size, headers, received, etag)
                else:
                    expected = expected_from_lowered(headers)
                    if self._needs_checksum(expected, size):
                        head = yield Send(self.head_with_checksum(ref.key, etag))
                        expected = self._with_head(obj, expected, head)
            verification = yield from self._verify(obj, expected, size)
            if not verification.ok:
                raise _Failed("ChecksumMismatch", f"{ref.key!r}: {verification.error}")
            data = None
            if obj.tmp is not None:
                self._write_held(obj)
                durable = self.fsync == "always" or (self.fsync == "large" and size >= FSYNC_THRESHOLD)
                if durable:  # on disk before it has a name that --skip-existing would trust
                    tmp = obj.tmp
                    yield Blocking(lambda: _fsync(tmp))
                self._commit(obj)
                if durable:  # and the name itself
                    directory = os.path.dirname(obj.path or "")
                    yield Blocking(lambda: _fsync(directory))
            else:
                data = b"".join(obj.chunks[offset] for offset in sorted(obj.chunks))
            return ObjectResult(ref.key, True, size, obj.path, data, verified=verification.checked,
                                notes=verification.notes, spans=tuple(obj.spans), **obj.times())
        except (_Failed, LocalFileError) as exc:
            self.disk_full = self.disk_full or exc.code == DiskFull.code
            return ObjectResult(ref.key, False, 0, obj.path, error_code=exc.code, error=exc.message,
                                spans=tuple(obj.spans), **obj.times())
        finally:
            if obj.check is not None:
                obj.check.stop()
            obj.discard()

    def begin(self, ref: ObjectRef) -> _Object | ObjectResult:
        """Map the key to its file and make the temporary file, or the result that needs no request."""
        obj = _Object(ref, time.perf_counter())
        if self.out_dir is None:
            return obj
        key = ref.key
        if self.disk_full:  # the run is stopping (see _stop_if_disk_full): no request for it
            return ObjectResult(key, False, error_code=_NOT_FETCHED, error=f"{key!r}: not fetched: the disk is full")
        if is_folder_marker(key):
            return ObjectResult(key, True, skipped=True, notes=("folder marker (key ends with '/'): not written",))
        try:
            path = key_to_path(self.out_dir, key)
            if os.path.lexists(path):
                if self.skip_existing:
                    found = os.stat(path)
                    if not stat.S_ISREG(found.st_mode):
                        raise _Failed("FileExists", f"{path} exists and is not a file")
                    obj.existing = found.st_size  # compared with the object in _kept
                elif not self.overwrite:
                    raise _Failed("FileExists", f"{path} exists (overwrite or skip existing files to go on)")
            prepare_parent(self.out_real or "", path, key)
        except KeyPathError as exc:
            return ObjectResult(key, False, error_code=exc.code, error=exc.message)
        except _Failed as exc:
            return ObjectResult(key, False, path=path, error_code=exc.code, error=exc.message)
        except OSError as exc:
            error = local_file_error(exc.filename or os.path.dirname(path), exc)
            return ObjectResult(key, False, error_code=error.code, error=f"{key!r}: {error}")
        # Named, not made: the engine creates it only for a body too large to hold (see first_job).
        directory = os.path.dirname(path)
        self.stale.sweep(directory)  # what a killed run left here
        obj.path, obj.tmp = path, os.path.join(directory, temp_name())
        return obj

    def _kept(self, obj: _Object) -> Generator[Step, Any, ObjectResult | None]:
        """``skip_existing``: the skipped result when the file already there is the object (its
        size, and its MD5 or checksum when the object tells one), else ``None``: the object is
        fetched again and replaces the file (a truncated or stale file is not trusted). The size
        and ETag come from the listing when there was one (as ``aws s3 sync`` compares), else
        from a ``HeadObject``. Reading the file to hash it costs one pass over it."""
        ref, path, have = obj.ref, obj.path, obj.existing
        assert path is not None and have is not None
        if ref.size is not None:
            md5 = ref.etag.lower() if ref.etag and _MD5_ETAG.match(ref.etag) else None
            expected = Expected(length=ref.size, md5_hex=md5)
        else:
            head = yield Send(self.head_with_checksum(ref.key, None))
            obj.spans.extend(head.spans)
            if head.error is not None:
                raise _Failed(getattr(head.error, "code", "") or type(head.error).__name__, f"{ref.key!r}: {head.error}")
            if head.status >= 300:
                raise _Failed(*_service_error(head, ref.key))
            expected = expected_from_headers(head.headers)
        if expected.length is not None and expected.length != have:
            verification = Verification(False, (), (), f"length {have} bytes, expected {expected.length}")
        elif expected.md5_hex is None and expected.checksum is None:  # nothing to read the file for
            verification = Verification(True, ("length",) if expected.length is not None else (), ())
        elif have <= _INLINE_VERIFY:
            verification = verify_file(path, expected)
        else:
            verification = yield Blocking(lambda: verify_file(path, expected))
        if not verification.ok:
            obj.replace = True
            return None
        checked = "/".join(verification.checked) or "nothing to compare"
        return ObjectResult(ref.key, True, have, path, skipped=True, verified=verification.checked,
                            notes=(f"exists, same {checked}: skipped",), elapsed=time.perf_counter() - obj.started,
                            spans=tuple(obj.spans))

    def first_job(self, obj: _Object) -> Job:
        """The first GET: the first ``threshold`` bytes, or the whole object when its size is known
        small. Into a file, a body of up to :data:`_IN_MEMORY` bytes (and below the threshold, so
        that it is the whole object) stays in memory: written once verified, as a file a user's
        own loop would write; a larger one streams into the temporary file."""
        ref = obj.ref
        if ref.size is not None and ref.size < self.threshold:
            request = self.get(ref.key)
        else:
            request = self.get(ref.key, 0, self.threshold - 1)
        sink = obj.sink(0, min(_IN_MEMORY, self.threshold - 1))
        return request if sink is None else (request, sink)

    def _parts(
        self, obj: _Object, size: int, first_headers: Mapping[str, str] | None, received: int, etag: str | None,
    ) -> Generator[Step, Any, Expected]:
        """Bytes ``[received, size)`` in ``part_size`` ranges, as one run of the engine; returns
        what the object must match. ``first_headers`` are those of the first response (``None``
        when the size came from the listing: the first part's then speak for the object). The
        ``HeadObject`` for the object's own checksum, when one is needed, goes first in the same
        run, so it overlaps the download. Into a file, each part is handed in file order to the
        object's :class:`FileCheck`, so verifying overlaps the download too. The first part that
        fails ends the run."""
        key = obj.ref.key
        if obj.tmp is not None:  # preallocated, with the first bytes when they came in memory
            with SinkFile(obj.tmp) as file:
                first = obj.chunks.pop(0, None)
                if first:
                    file.write(first)
                file.truncate(size)
        expected = None if first_headers is None else expected_from_lowered(first_headers)
        if expected is None:
            ask_head = self.verify_checksums and _MD5_ETAG.match(etag or "") is None
        else:
            ask_head = self._needs_checksum(expected, size)
            if not ask_head:
                self._start_check(obj, expected, received)
        starts = range(received, size, self.part_size)
        jobs = [self._job(obj, self.get(key, start, min(start + self.part_size, size) - 1, etag), start)
                for start in starts]
        if ask_head:
            jobs.insert(0, self.head_with_checksum(key, etag))
        head: RawResponse | None = None
        step: Step = SendEach(jobs)
        for position in range(len(jobs)):
            response = yield step
            step = MORE
            if ask_head and position == 0:
                head = response
                if expected is not None:
                    expected = self._with_head(obj, expected, head)
                    self._start_check(obj, expected, received)
                else:
                    obj.spans.extend(head.spans)
                continue
            start = starts[position - ask_head]
            end = min(start + self.part_size, size)
            self._accept(obj, response, expect_range=(start, end - 1, size))
            if expected is None:  # the first part's headers speak for the object
                expected = expected_from_headers(response.headers)
                if head is not None:
                    expected = self._with_head(obj, expected, head, record=False)
                self._start_check(obj, expected, 0)
            if obj.check is not None:
                obj.check.add(start, end)
        assert expected is not None
        return expected

    def _start_check(self, obj: _Object, expected: Expected, done: int) -> None:
        """Into a file: start verifying it, with its first ``done`` bytes already there."""
        if obj.tmp is None:
            return
        from awspar.s3.filecheck import FileCheck

        obj.check = FileCheck(obj.tmp, expected)
        if done:
            obj.check.add(0, done)

    def _verify(self, obj: _Object, expected: Expected, size: int) -> Generator[Step, Any, Verification]:
        """The bytes against ``expected``: small ones here, large ones where blocking is allowed."""
        if obj.check is not None:
            return (yield Blocking(obj.check.result))
        if obj.tmp is None or obj.chunks:
            data = b"".join(obj.chunks[o] for o in sorted(obj.chunks))
            if size <= _INLINE_VERIFY:
                return verify_bytes(data, expected)
            return (yield Blocking(lambda: verify_bytes(data, expected)))
        tmp = obj.tmp
        if size <= _INLINE_VERIFY:
            return verify_file(tmp, expected)
        return (yield Blocking(lambda: verify_file(tmp, expected)))

    def _needs_checksum(self, expected: Expected, size: int) -> bool:
        """True when the headers give neither an MD5 nor a checksum and checksums are to be checked."""
        return expected.md5_hex is None and expected.checksum is None and self.verify_checksums and size > 0

    def _with_head(self, obj: _Object, expected: Expected, head: RawResponse, *, record: bool = True) -> Expected:
        """``expected`` with the object's own checksum from a ``HeadObject`` (ChecksumMode=ENABLED)."""
        if record:
            obj.spans.extend(head.spans)
        if head.error is not None or head.status >= 300:
            unavailable = f"object checksum not available: HeadObject answered {head.status or head.error}"
            return dataclasses.replace(expected, notes=(*expected.notes, unavailable))
        from_head = expected_from_headers(head.headers)
        if from_head.checksum is None:
            why = tuple(note for note in from_head.notes if not note.startswith("md5")) or ("no object checksum",)
            return dataclasses.replace(expected, notes=(*expected.notes, *why))
        return dataclasses.replace(expected, checksum=from_head.checksum)

    def _job(self, obj: _Object, request: SignedRequest, offset: int) -> Job:
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
        if response.path is None:
            obj.chunks[start] = response.body
        if self.on_progress is not None:
            self.on_progress(key, _length_of(response))

    def _write_held(self, obj: _Object) -> None:
        """Write the verified bytes held in memory to the temporary file (larger bodies are in it
        already: the engine wrote them)."""
        assert obj.tmp is not None
        if obj.chunks:
            with SinkFile(obj.tmp, mode=self.file_mode, exclusive=True) as file:
                for offset in sorted(obj.chunks):
                    file.write(obj.chunks[offset])

    def _commit(self, obj: _Object) -> None:
        """Give the complete temporary file its final mode and link it onto its target (never
        clobbering unless overwriting)."""
        assert obj.tmp is not None and obj.path is not None
        try:
            self._link(obj)
        except OSError as exc:
            raise local_file_error(exc.filename or obj.path, exc) from None

    def _link(self, obj: _Object) -> None:
        """Give the complete temporary file its mode and link it onto its target."""
        assert obj.tmp is not None and obj.path is not None
        if not obj.chunks:
            os.chmod(obj.tmp, self.file_mode)
        if self.overwrite or obj.replace:
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


def _fsync(path: str) -> None:
    """Flush ``path`` (a file, or a directory's entries) to the disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise local_file_error(path, exc) from None


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

def _named(keys: Any) -> Iterator[ObjectRef]:
    if isinstance(keys, str):
        keys = [keys]
    for key in keys or ():
        yield ObjectRef(key)


def _list_params(bucket: str, prefix: str, token: str | None) -> dict[str, Any]:
    params = {"Bucket": bucket, "Prefix": prefix}
    if token:
        params["ContinuationToken"] = token
    return params


class _RunKeys:
    """The keys of one run, each fetched once, and how its listing ended.

    Named keys are remembered (``named``) so that a key named twice, or named and also listed
    under ``prefix``, is fetched once: about 100 bytes per named key (the key and its set slot).
    Listed keys are not remembered: a listing names each key once, in order. A listing error
    stops the keys, not the run: the keys already listed are still fetched, and the error is
    raised once they are (:meth:`raise_error`).
    """

    def __init__(self) -> None:
        self.named: set[str] = set()
        self.error: Exception | None = None

    def first_naming(self, key: str) -> bool:
        """True the first time ``key`` is named in this run."""
        if key in self.named:
            return False
        self.named.add(key)
        return True

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def _refs(
    bucket: str, keys: Any, prefix: str | None, signer: Signer, sender: SyncSender, run_keys: _RunKeys
) -> Iterator[ObjectRef]:
    """The keys to fetch: ``keys`` first, then everything under ``prefix`` (listed page by page
    as the fetch goes, through the run's own sender). A listing error ends the keys and is kept
    in ``run_keys``; each key comes once (see :class:`_RunKeys`)."""
    yield from (ref for ref in _named(keys) if run_keys.first_naming(ref.key))
    if prefix is None:
        return
    from awspar.parsing import parse_response

    def fetch_page(token: str | None) -> dict[str, Any]:
        return parse_response(sender.send(signer.sign("ListObjectsV2", _list_params(bucket, prefix, token))))

    try:
        for page in list_pages(fetch_page):
            yield from (ref for ref in page if ref.key not in run_keys.named)
    except Exception as exc:  # noqa: BLE001 - raised by the run once the keys listed so far are done
        run_keys.error = exc


async def _arefs(
    bucket: str, keys: Any, prefix: str | None, signer: Signer, sender: AsyncSender, run_keys: _RunKeys
) -> AsyncIterator[ObjectRef]:
    """Async twin of :func:`_refs` (``keys`` may be an async iterable; pages are listed ahead)."""
    if isinstance(keys, AsyncIterable):
        async for key in keys:
            if run_keys.first_naming(key):
                yield ObjectRef(key)
    else:
        for ref in _named(keys):
            if run_keys.first_naming(ref.key):
                yield ref
    if prefix is None:
        return
    from awspar.parsing import parse_response

    async def fetch_page(token: str | None) -> dict[str, Any]:
        return parse_response(await sender.send(signer.sign("ListObjectsV2", _list_params(bucket, prefix, token))))

    try:
        async for page in alist_pages(fetch_page):
            for ref in page:
                if ref.key not in run_keys.named:
                    yield ref
    except Exception as exc:  # noqa: BLE001 - raised by the run once the keys listed so far are done
        run_keys.error = exc

def auto_mode(named: int | None, prefix: str | None, concurrency: int | str | None) -> str:
    """The engine ``mode="auto"`` takes: ``threads`` when the keys are all named (``named`` of
    them, ``None`` when not known up front) and go out in one wave, else ``async``. One wave is
    over in about one round trip, so what the user waits for is start-up, and the threads engine
    starts ~150 ms sooner (no aiohttp to import: about as long as the requests themselves); past
    one wave, the async engine's lower CPU per request wins. Without the ``async`` extra it is
    always ``threads``: the user did not ask for a missing engine."""
    # concurrency="auto" starts small and doubles every round trip: the default's 32 is a fair wave
    bound = concurrency if isinstance(concurrency, int) else DEFAULT_CONFIG.max_in_flight
    one_wave = named is not None and prefix is None and named <= bound
    return "threads" if one_wave or not _installed("aiohttp") else "async"


def _installed(module: str) -> bool:
    """Whether ``module`` could be imported, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module hidden or half-imported
        return False


def _named_count(keys: Any) -> int | None:
    if isinstance(keys, str):
        return 1
    if keys is None:
        return 0
    return len(keys) if isinstance(keys, (list, tuple, set, frozenset, dict)) else None


def _resolve(
    mode: str, concurrency: int | str | None, config: EngineConfig | None, signer: Signer | None,
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
    concurrency: int | str | None = None,
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
    fsync: str = "large",
) -> AsyncIterator[ObjectResult]:
    """Async twin of :func:`get_objects` (same arguments; ``mode`` defaults to ``"async"``).

    Never blocks the event loop: signing is microseconds per key on the fast path, blocking
    engines run behind their awaitable twins, large files are verified on a helper thread.

    >>> async for result in aget_objects("my-bucket", prefix="2026/11/", out_dir="data"):  # doctest: +SKIP
    ...     print(result.key, result.ok, result.error_code)
    """
    if mode == "auto":
        mode = auto_mode(_named_count(keys), prefix, concurrency or (config.concurrency if config else None))
    fetcher, engine, own_engine, workers = _prepare(
        bucket, out_dir=out_dir, mode=mode, concurrency=concurrency, config=config, engine=engine,
        signer=signer, session=session, region=region, endpoint_url=endpoint_url, profile=profile,
        presigned=presigned, skip_existing=skip_existing, overwrite=overwrite, part_size=part_size,
        multipart_threshold=multipart_threshold, verify_checksums=verify_checksums, on_progress=on_progress,
        fsync=fsync,
    )
    try:
        if engine.native_async:
            results = _arun_on_loop(fetcher, engine, keys, prefix, workers)
        else:  # the blocking engines run their plans in threads of their own: one hand-off per result
            from awspar.engines.base import _iterate_in_thread

            def in_threads(sync_keys: Any) -> Iterator[ObjectResult]:
                return _run_in_threads(fetcher, engine, sync_keys, prefix, workers)

            results = _iterate_in_thread(in_threads, keys, _HANDOFF)
        async with contextlib.aclosing(results):
            async for result in results:
                if result.error_code == _NOT_FETCHED:  # may overtake the DiskFull result; never shown
                    continue
                yield result
                _stop_if_disk_full(result)
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
    concurrency: int | str | None = None,
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
    fsync: str = "large",
) -> Iterator[ObjectResult]:
    """Fetch ``keys`` (and/or everything under ``prefix``) of ``bucket``; yield an
    :class:`ObjectResult` per key as each completes.

    - ``out_dir``: write each object to ``out_dir/<key>`` (safely; see the module docstring);
      without it each result carries the bytes in ``data``.
    - ``mode``: the engine (``sequential``, ``threads``, ``async``, ``subinterpreters``,
      ``processes``, ``boto3``, ``dask``, or ``auto``: see :func:`auto_mode`), or pass a ready ``engine`` (shared, not closed; whatever its own
      ``resign``, stale requests of this fetch are re-signed by this call's signer, per call, so
      that a re-signed part keeps its ``Range``); ``concurrency`` / ``config`` tune it.
    - ``signer`` or ``session`` / ``profile`` / ``region`` / ``endpoint_url``: whose credentials
      and which endpoint (the standard AWS settings apply as for boto3).
    - ``presigned``: presigned URLs (the fast path, default) or header-signed requests
      (default for ``mode="boto3"``, and for servers that refuse presigned URLs).
    - ``skip_existing`` / ``overwrite``: what to do with a file that is already there (default:
      fail that key with ``FileExists``). ``skip_existing`` skips it only when it is the object:
      the same size, and the same MD5 or checksum when the object tells one (from the listing
      under ``prefix``, else a ``HeadObject``); otherwise the object is fetched again over it.
    - ``part_size`` / ``multipart_threshold``: objects at least ``multipart_threshold`` bytes come
      in parallel ``part_size`` ranges (8 MiB and 16 MiB by default, as the S3 guidelines advise).
    - ``verify_checksums``: ask for the object's own checksum when its ETag is no MD5.
    - ``on_progress(key, nbytes)``: called as bytes land (per response, parts included).
    - ``fsync``: when a file is flushed to the disk before it is linked into place (and its
      directory after): ``"large"`` (default) for objects of :data:`FSYNC_THRESHOLD` (1 MiB) or
      more, ``"always"``, or ``"never"`` (the operating system writes it back when it will: after
      a power loss, a file may be there and empty).

    Stopping the iteration early, or Ctrl-C, cancels what is in flight and removes its
    temporary files.

    >>> for result in get_objects("my-bucket", ["a.txt", "b.txt"], out_dir="data"):  # doctest: +SKIP
    ...     print(result.key, result.ok, result.size, result.error_code)
    """
    if mode == "auto":
        mode = auto_mode(_named_count(keys), prefix, concurrency or (config.concurrency if config else None))
    fetcher, engine, own_engine, workers = _prepare(
        bucket, out_dir=out_dir, mode=mode, concurrency=concurrency, config=config, engine=engine,
        signer=signer, session=session, region=region, endpoint_url=endpoint_url, profile=profile,
        presigned=presigned, skip_existing=skip_existing, overwrite=overwrite, part_size=part_size,
        multipart_threshold=multipart_threshold, verify_checksums=verify_checksums, on_progress=on_progress,
        fsync=fsync,
    )
    if engine.native_async:
        results = _on_loop_thread(lambda: _arun_on_loop(fetcher, engine, keys, prefix, workers), engine)
    else:
        results = _run_in_threads(fetcher, engine, keys, prefix, workers)
    return closing(_until_disk_full(results), engine if own_engine else None)


def _prepare(
    bucket: str, *, out_dir: str | os.PathLike[str] | None, mode: str, concurrency: int | str | None,
    config: EngineConfig | None, engine: Engine | None, signer: Signer | None, session: Any,
    region: str | None, endpoint_url: str | None, profile: str | None, presigned: bool | None,
    skip_existing: bool, overwrite: bool, part_size: int, multipart_threshold: int, verify_checksums: bool,
    on_progress: Progress | None, fsync: str,
) -> tuple[_Fetcher, Engine, bool, int]:
    """Check the arguments; the run's fetcher, engine (and whether this call made it) and workers."""
    if part_size < 1 or multipart_threshold < 1:
        raise ConfigurationError("part_size and multipart_threshold must be positive")
    if skip_existing and overwrite:
        raise ConfigurationError("choose skip_existing or overwrite, not both")
    if fsync not in _FSYNC_CHOICES:
        raise ConfigurationError(f"fsync is one of {', '.join(_FSYNC_CHOICES)}, not {fsync!r}")
    signer, config = _resolve(mode, concurrency, config, signer, session, region, endpoint_url, profile)
    from awspar.engines import engine_for_run

    engine, own_engine = engine_for_run(mode, config, engine, session=session, region=region,
                                        endpoint_url=endpoint_url, profile=profile)
    if presigned is None:
        presigned = not engine.signs_itself  # boto3 calls get_object itself, from the parameters
    directory = None if out_dir is None else os.fspath(out_dir)
    if directory is not None:
        _check_writable(directory)
    fetcher = _Fetcher(
        bucket, signer, out_dir=directory, presigned=presigned, part_size=part_size,
        threshold=multipart_threshold, overwrite=overwrite, skip_existing=skip_existing,
        verify_checksums=verify_checksums, on_progress=on_progress, fsync=fsync,
    )
    return fetcher, engine, own_engine, engine.config.max_in_flight


def _check_writable(directory: str) -> None:
    """Make ``directory`` if needed; :class:`~awspar.LocalFileError` naming it, before anything is
    sent, when nothing could be written into it (read-only, immutable, no permission)."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise local_file_error(directory, exc) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise LocalFileError(f"{directory}: cannot write into this directory (read-only, immutable or no "
                             "permission)", path=directory, errno=errno.EACCES)


def _stop_if_disk_full(result: ObjectResult) -> None:
    """After a key that failed for a full disk: :class:`~awspar.DiskFull`, which ends the run (no
    later key could be written; the keys after it are not fetched)."""
    if result.error_code == DiskFull.code:
        raise DiskFull(f"{result.error}; the run stopped there: the keys after it were not fetched",
                       path=result.path or "", errno=errno.ENOSPC)


def _until_disk_full(results: Iterator[ObjectResult]) -> Iterator[ObjectResult]:
    """``results``, ended by :func:`_stop_if_disk_full`; closing it closes ``results``."""
    try:
        for result in results:
            if result.error_code == _NOT_FETCHED:  # may overtake the DiskFull result; never shown
                continue
            yield result
            _stop_if_disk_full(result)
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()


def _run_in_threads(fetcher: _Fetcher, engine: Engine, keys: Any, prefix: str | None, workers: int) -> Iterator[ObjectResult]:
    """Every key's plan run whole inside ``workers`` threads (inline for one): no event loop."""
    sender = engine.plan_sender(fetcher.signer.resign)
    run_keys = _RunKeys()
    refs = _refs(fetcher.bucket, keys, prefix, fetcher.signer, sender, run_keys)
    yield from run_plans((fetcher.plan(ref) for ref in refs), sender, workers=workers, handoff=_HANDOFF)
    run_keys.raise_error()


async def _arun_on_loop(fetcher: _Fetcher, engine: Any, keys: Any, prefix: str | None, workers: int) -> AsyncIterator[ObjectResult]:
    """Every key's plan run whole as a task on the running loop, ``workers`` at a time."""
    run_keys = _RunKeys()
    async with engine.aplan_sender(fetcher.signer.resign) as sender:
        async def plans() -> AsyncIterator[Plan[ObjectResult]]:
            async for ref in _arefs(fetcher.bucket, keys, prefix, fetcher.signer, sender, run_keys):
                yield fetcher.plan(ref)

        async for result in arun_plans(plans(), sender, workers=workers, handoff=_HANDOFF):
            yield result
    run_keys.raise_error()


def _on_loop_thread(make: Callable[[], AsyncIterator[ObjectResult]], engine: Any) -> Iterator[ObjectResult]:
    """The fetch on a private loop in a helper thread (:func:`~awspar.engines.plan.on_loop_thread`).

    Leaving early (``break``, an exception, Ctrl-C in the caller) cancels the fetch and waits for
    its clean-up (temporary files removed) at most :data:`_CLEANUP_WAIT` seconds: past that,
    :class:`RuntimeError` says that the clean-up is stuck (the loop thread is a daemon and is left
    behind) instead of the caller hanging.
    """
    stuck = (f"awspar.s3: the fetch did not finish cleaning up within {_CLEANUP_WAIT:g} s of being stopped "
             "(its loop thread is left running)")
    return on_loop_thread(make, engine, name="awspar-s3", handoff=_HANDOFF, unwind_timeout=_CLEANUP_WAIT,
                          stuck=stuck)


from awspar.s3.upload import CHECKSUMS, aput_objects, put_objects  # noqa: E402 - it builds on the names above
