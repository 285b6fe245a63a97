"""A fast S3-compatible endpoint of awspar's own, for tests, examples, the benchmark and ``awspar local``.

What it serves, path-style (``/bucket/key``) and virtual-host-style (``Host: bucket.localhost:PORT``
or ``bucket.127.0.0.1:PORT``): GetObject (with ``Range`` -> 206 and ``Content-Range``,
``If-Match`` / ``If-None-Match``), HeadObject, PutObject (checks ``Content-MD5`` and an
``x-amz-checksum-crc32``/``-crc32c``/``-sha1``/``-sha256`` header: 400 BadDigest on a mismatch),
multipart uploads (CreateMultipartUpload, UploadPart with its own checksum checked,
CompleteMultipartUpload checking every listed part's ETag and checksum, AbortMultipartUpload,
ListMultipartUploads; see :mod:`awspar.testing.uploads`), DeleteObject, ListObjectsV2 (prefix,
delimiter, start-after, continuation tokens, ``encoding-type=url``), CreateBucket, HeadBucket,
DeleteBucket and ListBuckets. ETag is the MD5 of the body (objects generated larger than 8 MiB,
and completed multipart uploads, get S3's multipart form, ``md5-of-part-md5s-N``). With
``x-amz-checksum-mode: ENABLED`` (boto3 sends it by default) a whole-object GET or HEAD carries
the checksum the object was uploaded with (the COMPOSITE ``...-N`` one of a multipart upload), or
else its ``x-amz-checksum-crc32``, so botocore validates the body. Errors are S3's XML (NoSuchKey,
NoSuchBucket, NoSuchUpload, AccessDenied, SignatureDoesNotMatch, RequestTimeTooSkewed, SlowDown,
InvalidRange, BadDigest, InvalidPart ...). The ``truncate`` fault on an upload keeps only the first
half of the body received, as if the rest had been lost on the way, and checks what is left: a
checksum catches it; an upload without one is stored cut short, which is what checksums are for.
:meth:`ObjectServer.multipart_uploads` lists the uploads in progress (tests check that none is
left behind).

Every request's SigV4 signature, header-signed or presigned, is checked against
:data:`awspar.testing.TEST_CREDENTIALS` unless ``verify=False``. Latency and faults come from an
:class:`~awspar.testing.faults.EndpointBehaviour`; counters from ``stats()`` (see
:mod:`awspar.testing._endpoint`). Its capacity model (:mod:`awspar.testing.capacity`) counts per
prefix (the bucket and the key's first path segment) and answers 503 ``SlowDown`` above it,
after the request's latency, as S3 does.

Buckets hold objects in memory, or a :class:`GeneratedBucket`: N objects of S bytes, named
``obj-000001``..., produced on the fly from the key and a seed (a 4 KiB block repeated), so
100,000 objects or a 1 GiB object cost no memory. Objects put into a generated bucket are stored
beside the generated ones and take precedence.

>>> import boto3
>>> from awspar.testing import ObjectServer, GeneratedBucket, TEST_CREDENTIALS
>>> with ObjectServer({"demo": {"a.txt": b"hello"}, "big": GeneratedBucket(1000, 1024)}) as server:
...     s3 = boto3.client("s3", endpoint_url=server.url, **TEST_CREDENTIALS.boto3_kwargs())
...     s3.get_object(Bucket="demo", Key="a.txt")["Body"].read()
b'hello'
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import functools
import hashlib
import heapq
import itertools
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from aiohttp import web

from awspar.testing._endpoint import LocalEndpoint
from awspar.testing.faults import Decision, EndpointBehaviour
from awspar.testing.sigv4_verify import verify_sigv4
from awspar.testing.uploads import MultipartUpload, UploadError, check_payload, parse_complete

__all__ = ["GeneratedBucket", "ObjectServer"]

BLOCK_SIZE = 4096
CHUNK_SIZE = 64 * BLOCK_SIZE  # 256 KiB: bodies larger than this are streamed in chunks
PART_SIZE = 8 * 1024 * 1024  # generated objects above this get a multipart-style ETag
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's: every part of a multipart upload but the last
#: Seconds an ``empty_range="206"`` answer keeps its connection open without its promised byte.
EMPTY_RANGE_HOLD = 30.0
_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
_LAST_KEY = "\U0010ffff"  # sorts after any key: "resume after everything under this prefix"

_ERRORS = {
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "BucketAlreadyOwnedByYou": (409, "Your previous request to create the named bucket succeeded and you already own it."),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidArgument": (400, "Invalid Argument"),
    "BadDigest": (400, "The Content-MD5 or checksum you specified did not match what we received."),
    "NoSuchUpload": (404, "The specified upload does not exist. The upload ID may be invalid, or the upload may "
                          "have been aborted or completed."),
    "InvalidPart": (400, "One or more of the specified parts could not be found."),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed size"),
    "MalformedXML": (400, "The XML you provided was not well-formed or did not validate against our published schema"),
    "InvalidRequest": (400, "Invalid Request"),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold"),
    "NotImplemented": (501, "A header or query you provided implies functionality that is not implemented."),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "SlowDown": (503, "Please reduce your request rate."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "ThrottlingException": (429, "Rate exceeded"),
}
_FAULT_ERRORS = {"slowdown": "SlowDown", "internal": "InternalError", "throttle": "ThrottlingException"}


@dataclass(frozen=True)
class GeneratedBucket:
    """``count`` objects of ``size`` bytes, keys ``{prefix}{i:0{width}d}`` for i = 1..count.

    The bytes of each object are a 4 KiB block derived from ``seed`` and the key, repeated; they
    are produced when served, never stored. ``width`` grows to fit ``count`` so keys sort in order.
    """

    count: int
    size: int
    prefix: str = "obj-"
    width: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        if self.count < 0 or self.size < 0:
            raise ValueError("a generated bucket needs count >= 0 and size >= 0")
        object.__setattr__(self, "width", max(self.width, len(str(self.count))))

    def key(self, index: int) -> str:
        """The key of object ``index`` (0-based)."""
        return f"{self.prefix}{index + 1:0{self.width}d}"

    def keys(self) -> Sequence[str]:
        """Every key, in order, as a lazy sequence."""
        return _GeneratedKeys(self)

    def has(self, key: str) -> bool:
        digits = key[len(self.prefix):]
        return (key.startswith(self.prefix) and len(digits) == self.width and digits.isdigit()
                and 1 <= int(digits) <= self.count)

    def block(self, key: str) -> bytes:
        return _block(self.seed, key)

    def read(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of object ``key``."""
        end = self.size if end is None else end
        return b"".join(self.chunks(key, start, end))

    def chunks(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of object ``key`` in chunks of at most 256 KiB."""
        block = self.block(key)
        offset = start % BLOCK_SIZE
        remaining = end - start
        repeats = min(CHUNK_SIZE // BLOCK_SIZE, -(-remaining // BLOCK_SIZE))
        chunk = (block[offset:] + block[:offset]) * repeats
        while remaining > 0:
            piece = chunk if remaining >= CHUNK_SIZE else chunk[:remaining]
            yield piece
            remaining -= len(piece)


class _GeneratedKeys(Sequence[str]):
    def __init__(self, spec: GeneratedBucket) -> None:
        self._spec = spec

    def __len__(self) -> int:
        return self._spec.count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._spec.key(i) for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._spec.key(index)


@functools.lru_cache(maxsize=1024)
def _block(seed: int, key: str) -> bytes:
    return hashlib.shake_256(f"{seed}:{key}".encode()).digest(BLOCK_SIZE)


@functools.lru_cache(maxsize=4096)
def _generated_digests(spec: GeneratedBucket, key: str) -> tuple[str, str]:
    """(ETag without quotes, base64 CRC32) of a generated object; computed once per key."""
    if spec.size <= PART_SIZE:
        body = spec.read(key)
        return hashlib.md5(body).hexdigest(), _crc32_b64(zlib.crc32(body))
    full_parts, tail = divmod(spec.size, PART_SIZE)
    part = spec.read(key, 0, PART_SIZE)  # every full part starts block-aligned: identical bytes
    part_md5 = hashlib.md5(part).digest()
    md5s = part_md5 * full_parts
    crc = 0
    for _ in range(full_parts):
        crc = zlib.crc32(part, crc)
    if tail:
        tail_bytes = spec.read(key, full_parts * PART_SIZE, spec.size)
        md5s += hashlib.md5(tail_bytes).digest()
        crc = zlib.crc32(tail_bytes, crc)
    parts = full_parts + (1 if tail else 0)
    return f"{hashlib.md5(md5s).hexdigest()}-{parts}", _crc32_b64(crc)


def _crc32_b64(crc: int) -> str:
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


@dataclass
class _Object:
    """One stored object and the headers every GET of it repeats."""

    body: bytes
    etag: str
    last_modified: float
    crc32: str
    headers: dict[str, str] = field(default_factory=dict)
    #: The checksum it was uploaded with, as served with ``x-amz-checksum-mode: ENABLED``:
    #: ``(algorithm, base64 value, FULL_OBJECT or COMPOSITE)``.
    checksum: tuple[str, str, str] | None = None

    @classmethod
    def create(cls, body: bytes, content_type: str = "binary/octet-stream",
               metadata: Mapping[str, str] | None = None, *, etag: str | None = None,
               checksum: tuple[str, str, str] | None = None, storage_class: str | None = None) -> _Object:
        now = time.time()
        etag = etag or hashlib.md5(body).hexdigest()
        headers = {
            "ETag": f'"{etag}"',
            "Last-Modified": formatdate(now, usegmt=True),
            "Content-Type": content_type,
            "Accept-Ranges": "bytes",
        }
        for name, value in (metadata or {}).items():
            headers[f"x-amz-meta-{name}"] = value
        if storage_class and storage_class != "STANDARD":
            headers["x-amz-storage-class"] = storage_class
        crc32 = checksum[1] if checksum is not None and checksum[0] == "crc32" and checksum[2] == "FULL_OBJECT" else None
        return cls(body, etag, now, crc32 or _crc32_b64(zlib.crc32(body)), headers, checksum)


@dataclass
class _Bucket:
    created: float = field(default_factory=time.time)
    objects: dict[str, _Object] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # sorted keys of ``objects``
    generated: GeneratedBucket | None = None
    deleted: set[str] = field(default_factory=set)  # generated keys deleted since start

    @functools.cached_property
    def last_modified(self) -> str:
        """``Last-Modified`` of the generated objects: when the bucket was made."""
        return formatdate(self.created, usegmt=True)

    def put(self, key: str, obj: _Object) -> None:
        if key not in self.objects:
            bisect.insort(self.keys, key)
        self.objects[key] = obj

    def delete(self, key: str) -> None:
        if self.objects.pop(key, None) is not None:
            del self.keys[bisect.bisect_left(self.keys, key)]
        elif self.generated is not None and self.generated.has(key):
            self.deleted.add(key)

    def is_generated(self, key: str) -> bool:
        return (key not in self.objects and self.generated is not None and self.generated.has(key)
                and key not in self.deleted)

    def empty(self) -> bool:
        return not self.objects and (self.generated is None or len(self.deleted) >= self.generated.count)

    def keys_from(self, lower: str) -> Iterator[str]:
        """Every key ``>= lower``, in order, stored and generated merged."""
        stored = itertools.islice(self.keys, bisect.bisect_left(self.keys, lower), None)
        if self.generated is None:
            yield from stored
            return
        names = self.generated.keys()
        generated = (k for k in itertools.islice(names, bisect.bisect_left(names, lower), None)
                     if k not in self.deleted)
        previous = None
        for key in heapq.merge(stored, generated):
            if key != previous:
                yield key
            previous = key


BucketContents = Mapping[str, bytes] | GeneratedBucket


class ObjectServer(LocalEndpoint):
    """An S3-compatible endpoint on 127.0.0.1 (see the module docstring).

    ``buckets`` maps bucket names to ``{key: body}`` or a :class:`GeneratedBucket`.
    ``verify=False`` accepts unsigned requests. ``behaviour`` sets latency and faults.
    ``process=True`` serves from a spawned child process (stats are then read over HTTP, and
    :meth:`put` / :meth:`create_bucket` are not available: seed through ``buckets``).
    ``empty_range="206"`` answers a ranged GET of an empty object as some S3-compatible servers
    do instead of S3's 416: 206 with ``Content-Range: bytes */0`` and a ``Content-Length: 1`` whose
    byte never comes (the connection stays open, silent, for :data:`EMPTY_RANGE_HOLD` seconds).
    """

    signing_name = "s3"

    def __init__(
        self,
        buckets: Mapping[str, BucketContents] | None = None,
        *,
        behaviour: EndpointBehaviour | None = None,
        verify: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        process: bool = False,
        min_part_size: int = MIN_PART_SIZE,
        empty_range: str = "416",
    ) -> None:
        if empty_range not in ("416", "206"):
            raise ValueError(f"empty_range is '416' (as S3) or '206', not {empty_range!r}")
        super().__init__(behaviour=behaviour, verify=verify, host=host, port=port, process=process)
        self.empty_range = empty_range
        self._buckets: dict[str, _Bucket] = {}
        self._uploads: dict[str, MultipartUpload] = {}
        self._last_request_id = 0
        self.min_part_size = min_part_size
        for name, contents in (buckets or {}).items():
            self._create(name, contents)

    # -- Python API (thread mode) -------------------------------------------------------------

    def create_bucket(self, name: str, contents: BucketContents | None = None) -> None:
        """Create bucket ``name`` holding ``contents`` (``{key: body}`` or a GeneratedBucket)."""
        self._local_only("create_bucket")
        self._on_loop(lambda: self._create(name, contents or {}))

    def put(self, bucket: str, key: str, body: bytes, content_type: str = "binary/octet-stream") -> None:
        """Store ``body`` under ``bucket/key`` (the bucket must exist)."""
        self._local_only("put")
        self._on_loop(lambda: self._buckets[bucket].put(key, _Object.create(body, content_type)))

    def multipart_uploads(self, bucket: str | None = None) -> list[tuple[str, str, str]]:
        """``(bucket, key, upload id)`` of every multipart upload in progress (of ``bucket``)."""
        self._local_only("multipart_uploads")
        return self._on_loop(lambda: sorted((u.bucket, u.key, u.upload_id) for u in self._uploads.values()
                                            if bucket is None or u.bucket == bucket))

    def object(self, bucket: str, key: str) -> tuple[bytes, dict[str, str]]:
        """The stored bytes of ``bucket/key`` and the headers a GET of it carries."""
        self._local_only("object")
        stored = self._on_loop(lambda: self._buckets[bucket].objects[key])
        return stored.body, dict(stored.headers)

    def _local_only(self, what: str) -> None:
        if self._child is not None:
            raise RuntimeError(f"{what}() is not available with process=True; seed through buckets=")

    def _create(self, name: str, contents: BucketContents) -> None:
        bucket = _Bucket()
        if isinstance(contents, GeneratedBucket):
            bucket.generated = contents
        else:
            for key, body in contents.items():
                bucket.put(key, _Object.create(bytes(body)))
        self._buckets[name] = bucket

    # -- request handling ---------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        method = request.method
        target = request.raw_path
        path, _, query_string = target.partition("?")
        bucket_name, key = self._address(request.host, path)
        body = await request.content.read() if method in ("PUT", "POST") else b""
        if self.verify:
            failure = verify_sigv4(method, target, request.headers.items(), body, service="s3")
            if failure is not None:
                self.count("Unauthorized")
                return self._error(request, failure.code, failure.message, failure.status)
        query = _parse_query(query_string)
        part = query.get("partNumber") if "uploadId" in query else None
        decision = None if self.quiet else self.decide(
            request, None if part is None else f"{method} {request.path} part {part}")
        scope = None if self.behaviour.capacity is None or not bucket_name else _prefix_scope(bucket_name, key)
        if scope is not None and not self.admit(scope):  # above capacity: S3's own answer, after the latency
            if decision is not None and decision.delay_s > 0:
                await asyncio.sleep(decision.delay_s)
            return self._error(request, "SlowDown")
        try:
            return await self._serve(request, method, bucket_name, key, body, query, decision)
        finally:
            if scope is not None:
                self.leave(scope)

    async def _serve(self, request: web.BaseRequest, method: str, bucket_name: str, key: str, body: bytes,
                     query: dict[str, str], decision: Decision | None) -> web.StreamResponse:
        if decision is not None:
            early = await self._serve_fault(request, decision)
            if early is not None:
                return early
            if decision.fault == "truncate" and method in ("PUT", "POST") and len(body) >= 2:
                self.count_fault("truncate")
                body = body[: len(body) // 2]
        if not bucket_name:
            return self._list_buckets(request) if method == "GET" else self._error(request, "MethodNotAllowed")
        bucket = self._buckets.get(bucket_name)
        if key:
            if bucket is None:
                return self._error(request, "NoSuchBucket", resource=bucket_name)
            if "uploads" in query or "uploadId" in query:
                return self._multipart(request, bucket_name, key, query, body)
            if method in ("GET", "HEAD"):
                return await self._get_object(request, bucket, key, decision)
            if method == "PUT":
                return self._put_object(request, bucket, key, body)
            if method == "DELETE":
                self.count("DeleteObject")
                bucket.delete(key)
                return web.Response(status=204, headers=self._ids())
            return self._error(request, "MethodNotAllowed")
        return self._bucket_operation(request, bucket_name, bucket, query)

    def _address(self, host: str | None, path: str) -> tuple[str, str]:
        """(bucket, key) from a virtual-host ``Host`` or from the path."""
        hostname = (host or "").rsplit(":", 1)[0] if not (host or "").endswith("]") else host or ""
        for suffix in (".localhost", f".{self.host}"):
            if hostname.endswith(suffix) and len(hostname) > len(suffix):
                return hostname[: -len(suffix)], unquote(path[1:])
        bucket, _, key = path[1:].partition("/")
        return unquote(bucket), unquote(key)

    async def _serve_fault(self, request: web.BaseRequest, decision: Decision) -> web.StreamResponse | None:
        """Sleep the decided delay; answer the request now if its fault ends it early."""
        fault = decision.fault
        delay = decision.delay_s + (self.behaviour.faults.stall_s if fault == "stall" else 0.0)
        if fault == "stall":
            self.count_fault("stall")
        if delay > 0:
            await asyncio.sleep(delay)
        if fault in _FAULT_ERRORS:
            self.count_fault(fault)
            return self._error(request, _FAULT_ERRORS[fault])
        if fault == "reset":
            return await self.reset_and_wait(request)
        return None

    def _ids(self) -> dict[str, str]:
        self._last_request_id += 1
        return {"x-amz-request-id": f"{self._last_request_id:016X}"}

    def _error(self, request: web.BaseRequest, code: str, message: str | None = None,
               status: int | None = None, resource: str | None = None) -> web.Response:
        default_status, default_message = _ERRORS.get(code, (403, "Access Denied"))
        status = status or default_status
        headers = self._ids()
        if request.method == "HEAD":  # S3 answers HEAD errors with no body
            return web.Response(status=status, headers=headers)
        extra = f"<Resource>{escape(resource)}</Resource>" if resource else ""
        xml = (f"{_XML_HEAD}<Error><Code>{code}</Code><Message>{escape(message or default_message)}</Message>"
               f"{extra}<RequestId>{headers['x-amz-request-id']}</RequestId></Error>")
        return web.Response(status=status, body=xml.encode(), headers=headers, content_type="application/xml")

    # -- objects ------------------------------------------------------------------------------

    async def _get_object(self, request: web.BaseRequest, bucket: _Bucket, key: str,
                          decision: Decision | None) -> web.StreamResponse:
        is_head = request.method == "HEAD"
        self.count("HeadObject" if is_head else "GetObject")
        stored = bucket.objects.get(key)
        if stored is not None:
            size, etag, crc32, headers = len(stored.body), stored.etag, stored.crc32, dict(stored.headers)
        elif bucket.is_generated(key):
            spec = bucket.generated
            assert spec is not None
            size = spec.size
            etag, crc32 = _generated_digests(spec, key)
            headers = {"ETag": f'"{etag}"', "Last-Modified": bucket.last_modified,
                       "Content-Type": "binary/octet-stream", "Accept-Ranges": "bytes"}
        else:
            return self._error(request, "NoSuchKey", resource=key)
        headers.update(self._ids())
        precondition = _check_preconditions(request, etag)
        if precondition == 304:
            return web.Response(status=304, headers=headers)
        if precondition == 412:
            return self._error(request, "PreconditionFailed")

        status, start, end = _parse_range(request.headers.get("Range"), size)
        if status == 416 and size == 0 and self.empty_range == "206" and not is_head:
            return await self._promise_an_empty_range(request, headers)
        if status == 416:
            return self._error(request, "InvalidRange")
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        elif request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
            algorithm, value, kind = (stored.checksum if stored is not None and stored.checksum is not None
                                      else ("crc32", crc32, "FULL_OBJECT"))
            headers[f"x-amz-checksum-{algorithm}"] = value
            headers["x-amz-checksum-type"] = kind
        headers["Content-Length"] = str(end - start)
        if is_head:
            return web.Response(status=status, headers=headers)

        truncate = decision is not None and decision.fault == "truncate" and end - start >= 2
        if not truncate and self.behaviour.body_rate is None and end - start <= CHUNK_SIZE:
            data = stored.body[start:end] if stored is not None else bucket.generated.read(key, start, end)  # type: ignore[union-attr]
            return web.Response(status=status, body=data, headers=headers)
        if stored is not None:
            chunks: Any = (stored.body[i:min(i + CHUNK_SIZE, end)] for i in range(start, end, CHUNK_SIZE))
        else:
            chunks = bucket.generated.chunks(key, start, end)  # type: ignore[union-attr]
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = end - start
        return await self.stream(request, response, chunks,
                                 truncate_after=(end - start) // 2 if truncate else None)

    async def _promise_an_empty_range(self, request: web.BaseRequest, headers: dict[str, str]) -> web.StreamResponse:
        """206 of an empty object with a Content-Length its body never fills (see ``empty_range``)."""
        headers.update({"Content-Range": "bytes */0", "Content-Length": "1"})
        response = web.StreamResponse(status=206, headers=headers)
        await response.prepare(request)
        await asyncio.sleep(EMPTY_RANGE_HOLD)
        return response

    def _put_object(self, request: web.BaseRequest, bucket: _Bucket, key: str, body: bytes) -> web.Response:
        self.count("PutObject")
        if "x-amz-copy-source" in request.headers:
            return self._error(request, "NotImplemented", "CopyObject is not implemented by this server.")
        if "aws-chunked" in request.headers.get("Content-Encoding", ""):
            return self._error(request, "NotImplemented", "aws-chunked uploads are not implemented by this server.")
        try:
            checksum = check_payload(request.headers, body)
        except UploadError as exc:
            return self._error(request, exc.code, exc.message)
        obj = _Object.create(
            body, request.headers.get("Content-Type", "binary/octet-stream"), _metadata(request.headers),
            checksum=None if checksum is None else (*checksum, "FULL_OBJECT"),
            storage_class=request.headers.get("x-amz-storage-class"),
        )
        content_md5 = request.headers.get("Content-MD5")
        if content_md5 is not None and content_md5 != base64.b64encode(bytes.fromhex(obj.etag)).decode():
            return self._error(request, "BadDigest")
        bucket.put(key, obj)
        headers = {"ETag": f'"{obj.etag}"', **self._ids()}
        if checksum is not None:
            headers[f"x-amz-checksum-{checksum[0]}"] = checksum[1]
            headers["x-amz-checksum-type"] = "FULL_OBJECT"
        return web.Response(status=200, headers=headers)

    # -- multipart uploads --------------------------------------------------------------------

    def _multipart(self, request: web.BaseRequest, bucket_name: str, key: str, query: dict[str, str],
                   body: bytes) -> web.Response:
        method = request.method
        try:
            if method == "POST" and "uploads" in query:
                return self._create_upload(request, bucket_name, key)
            upload = self._uploads.get(query.get("uploadId", ""))
            operation = {"PUT": "UploadPart", "POST": "CompleteMultipartUpload",
                         "DELETE": "AbortMultipartUpload"}.get(method, "ListParts")
            self.count(operation)
            if upload is None or (upload.bucket, upload.key) != (bucket_name, key):
                return self._error(request, "NoSuchUpload")
            if method == "PUT":
                if "x-amz-copy-source" in request.headers:
                    return self._error(request, "NotImplemented", "UploadPartCopy is not implemented by this server.")
                try:
                    number = int(query.get("partNumber", ""))
                except ValueError:
                    return self._error(request, "InvalidArgument", "Part number must be an integer.")
                part = upload.add_part(number, body, request.headers)
                headers = {"ETag": f'"{part.etag}"', **self._ids()}
                if part.checksum is not None:
                    headers[f"x-amz-checksum-{part.checksum[0]}"] = part.checksum[1]
                return web.Response(status=200, headers=headers)
            if method == "POST":
                return self._complete_upload(request, upload, body)
            if method == "DELETE":
                del self._uploads[upload.upload_id]
                return web.Response(status=204, headers=self._ids())
        except UploadError as exc:
            return self._error(request, exc.code, exc.message)
        return self._error(request, "NotImplemented", "ListParts is not implemented by this server.")

    def _create_upload(self, request: web.BaseRequest, bucket_name: str, key: str) -> web.Response:
        self.count("CreateMultipartUpload")
        algorithm = request.headers.get("x-amz-checksum-algorithm")
        if algorithm is not None and algorithm.lower() not in ("crc32", "crc32c", "sha1", "sha256"):
            raise UploadError("NotImplemented", f"checksum algorithm {algorithm} is not implemented by this server.")
        if request.headers.get("x-amz-checksum-type", "COMPOSITE").upper() != "COMPOSITE":
            raise UploadError("NotImplemented", "only COMPOSITE multipart checksums are implemented by this server.")
        upload = MultipartUpload(
            bucket_name, key, base64.urlsafe_b64encode(hashlib.sha256(
                f"{bucket_name}/{key}/{time.time_ns()}/{len(self._uploads)}".encode()).digest()[:24]).decode(),
            algorithm=None if algorithm is None else algorithm.lower(),
            content_type=request.headers.get("Content-Type", "binary/octet-stream"),
            metadata=_metadata(request.headers), storage_class=request.headers.get("x-amz-storage-class"),
        )
        self._uploads[upload.upload_id] = upload
        xml = (f'{_XML_HEAD}<InitiateMultipartUploadResult xmlns="{_XMLNS}"><Bucket>{escape(bucket_name)}</Bucket>'
               f"<Key>{escape(key)}</Key><UploadId>{upload.upload_id}</UploadId></InitiateMultipartUploadResult>")
        headers = self._ids()
        if upload.algorithm is not None:
            headers["x-amz-checksum-algorithm"] = upload.algorithm.upper()
            headers["x-amz-checksum-type"] = "COMPOSITE"
        return web.Response(body=xml.encode(), headers=headers, content_type="application/xml")

    def _complete_upload(self, request: web.BaseRequest, upload: MultipartUpload, body: bytes) -> web.Response:
        bucket = self._buckets.get(upload.bucket)
        if bucket is None:
            return self._error(request, "NoSuchBucket", resource=upload.bucket)
        data, etag, checksum = upload.complete(parse_complete(body), self.min_part_size)
        bucket.put(upload.key, _Object.create(
            data, upload.content_type, upload.metadata, etag=etag,
            checksum=None if checksum is None else (*checksum, "COMPOSITE"), storage_class=upload.storage_class,
        ))
        del self._uploads[upload.upload_id]
        extra = ""
        if checksum is not None:
            name = {"crc32": "CRC32", "crc32c": "CRC32C", "sha1": "SHA1", "sha256": "SHA256"}[checksum[0]]
            extra = f"<Checksum{name}>{checksum[1]}</Checksum{name}><ChecksumType>COMPOSITE</ChecksumType>"
        xml = (f'{_XML_HEAD}<CompleteMultipartUploadResult xmlns="{_XMLNS}">'
               f"<Location>/{escape(upload.bucket)}/{escape(upload.key)}</Location><Bucket>{escape(upload.bucket)}"
               f"</Bucket><Key>{escape(upload.key)}</Key><ETag>&quot;{etag}&quot;</ETag>{extra}"
               "</CompleteMultipartUploadResult>")
        return web.Response(body=xml.encode(), headers=self._ids(), content_type="application/xml")

    def _list_uploads(self, request: web.BaseRequest, name: str, query: dict[str, str]) -> web.Response:
        self.count("ListMultipartUploads")
        prefix = query.get("prefix", "")
        uploads = sorted((u for u in self._uploads.values() if u.bucket == name and u.key.startswith(prefix)),
                         key=lambda u: (u.key, u.initiated))
        entries = "".join(
            f"<Upload><Key>{escape(u.key)}</Key><UploadId>{u.upload_id}</UploadId>"
            f"<Initiated>{_iso(u.initiated)}</Initiated><StorageClass>{u.storage_class or 'STANDARD'}</StorageClass>"
            "</Upload>" for u in uploads)
        xml = (f'{_XML_HEAD}<ListMultipartUploadsResult xmlns="{_XMLNS}"><Bucket>{escape(name)}</Bucket>'
               f"<Prefix>{escape(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>"
               f"{entries}</ListMultipartUploadsResult>")
        return web.Response(body=xml.encode(), headers=self._ids(), content_type="application/xml")

    # -- buckets ------------------------------------------------------------------------------

    def _bucket_operation(self, request: web.BaseRequest, name: str, bucket: _Bucket | None,
                          query: dict[str, str]) -> web.Response:
        method = request.method
        if method == "PUT":
            self.count("CreateBucket")
            if bucket is not None:
                return self._error(request, "BucketAlreadyOwnedByYou", resource=name)
            if not 3 <= len(name) <= 63:
                return self._error(request, "InvalidBucketName", resource=name)
            self._create(name, {})
            return web.Response(status=200, headers={"Location": f"/{name}", **self._ids()})
        if bucket is None:
            return self._error(request, "NoSuchBucket", resource=name)
        if method == "HEAD":
            self.count("HeadBucket")
            return web.Response(status=200, headers={"x-amz-bucket-region": "us-east-1", **self._ids()})
        if method == "DELETE":
            self.count("DeleteBucket")
            if not bucket.empty():
                return self._error(request, "BucketNotEmpty", resource=name)
            del self._buckets[name]
            return web.Response(status=204, headers=self._ids())
        if method == "GET" and "uploads" in query:
            return self._list_uploads(request, name, query)
        if method == "GET" and query.get("list-type") == "2":
            return self._list_objects_v2(request, name, bucket, query)
        if method == "GET" and "location" in query:
            self.count("GetBucketLocation")
            xml = f'{_XML_HEAD}<LocationConstraint xmlns="{_XMLNS}"/>'
            return web.Response(body=xml.encode(), headers=self._ids(), content_type="application/xml")
        return self._error(request, "NotImplemented", "Only ListObjectsV2 (list-type=2) is implemented for listing.")

    def _list_buckets(self, request: web.BaseRequest) -> web.Response:
        self.count("ListBuckets")
        entries = "".join(
            f"<Bucket><Name>{escape(name)}</Name><CreationDate>{_iso(b.created)}</CreationDate></Bucket>"
            for name, b in sorted(self._buckets.items()))
        xml = (f'{_XML_HEAD}<ListAllMyBucketsResult xmlns="{_XMLNS}"><Owner><ID>awspar</ID>'
               f"<DisplayName>awspar</DisplayName></Owner><Buckets>{entries}</Buckets></ListAllMyBucketsResult>")
        return web.Response(body=xml.encode(), headers=self._ids(), content_type="application/xml")

    def _list_objects_v2(self, request: web.BaseRequest, name: str, bucket: _Bucket,
                         query: dict[str, str]) -> web.Response:
        self.count("ListObjectsV2")
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        start_after = query.get("start-after", "")
        token = query.get("continuation-token")
        url_encode = query.get("encoding-type") == "url"
        try:
            max_keys = int(query.get("max-keys", "1000"))
            after = _decode_token(token) if token is not None else start_after
        except ValueError:
            return self._error(request, "InvalidArgument", "The continuation token or max-keys is not valid.")
        max_keys = max(0, min(max_keys, 1000))

        contents: list[str] = []
        prefixes: list[str] = []
        resume_after = ""
        truncated = False
        lower = max(prefix, after + "\x00" if after else "")
        for key in bucket.keys_from(lower):
            if not key.startswith(prefix):
                break
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = key[: cut + len(delimiter)]
                if prefixes and prefixes[-1] == common:
                    continue
                if len(contents) + len(prefixes) >= max_keys:
                    truncated = True
                    break
                prefixes.append(common)
                resume_after = common + _LAST_KEY
                continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            contents.append(key)
            resume_after = key

        def enc(text: str) -> str:
            return escape(quote(text, safe="/") if url_encode else text)

        parts = [f'{_XML_HEAD}<ListBucketResult xmlns="{_XMLNS}"><Name>{escape(name)}</Name>',
                 f"<Prefix>{enc(prefix)}</Prefix><KeyCount>{len(contents) + len(prefixes)}</KeyCount>",
                 f"<MaxKeys>{max_keys}</MaxKeys><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
        if delimiter:
            parts.append(f"<Delimiter>{enc(delimiter)}</Delimiter>")
        if url_encode:
            parts.append("<EncodingType>url</EncodingType>")
        if token is not None:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if start_after:
            parts.append(f"<StartAfter>{enc(start_after)}</StartAfter>")
        if truncated:
            parts.append(f"<NextContinuationToken>{_encode_token(resume_after)}</NextContinuationToken>")
        for key in contents:
            size, etag, modified = self._describe(bucket, key)
            parts.append(f"<Contents><Key>{enc(key)}</Key><LastModified>{_iso(modified)}</LastModified>"
                         f"<ETag>&quot;{etag}&quot;</ETag><Size>{size}</Size>"
                         "<StorageClass>STANDARD</StorageClass></Contents>")
        parts.extend(f"<CommonPrefixes><Prefix>{enc(p)}</Prefix></CommonPrefixes>" for p in prefixes)
        parts.append("</ListBucketResult>")
        return web.Response(body="".join(parts).encode(), headers=self._ids(), content_type="application/xml")

    @staticmethod
    def _describe(bucket: _Bucket, key: str) -> tuple[int, str, float]:
        stored = bucket.objects.get(key)
        if stored is not None:
            return len(stored.body), stored.etag, stored.last_modified
        spec = bucket.generated
        assert spec is not None
        return spec.size, _generated_digests(spec, key)[0], bucket.created


def _prefix_scope(bucket: str, key: str) -> str:
    """What the capacity model throttles by: the bucket and the key's first path segment (an S3
    partitioned prefix, as far as a local endpoint pretends)."""
    first, slash, _ = key.partition("/")
    return f"{bucket}/{first}/" if slash else f"{bucket}/"


def _metadata(headers: Mapping[str, str]) -> dict[str, str]:
    return {k[len("x-amz-meta-"):].lower(): v for k, v in headers.items() if k.lower().startswith("x-amz-meta-")}


def _parse_query(query: str) -> dict[str, str]:
    out = {}
    for part in query.split("&") if query else ():
        name, _, value = part.partition("=")
        out[unquote(name)] = unquote(value)
    return out


def _parse_range(header: str | None, size: int) -> tuple[int, int, int]:
    """(status, start, end exclusive) for a ``Range`` header: 206 for ``bytes=a-b`` / ``bytes=a-`` /
    ``bytes=-n``, 416 when unsatisfiable, 200 (whole object) when absent or not understood, as S3 does."""
    whole = (200, 0, size)
    if not header:
        return whole
    unit, _, spec = header.partition("=")
    first, _, last = spec.strip().partition("-")
    if unit.strip() != "bytes" or "," in spec or not (first or last):
        return whole
    try:
        if not first:
            length = int(last)
            return (206, max(0, size - length), size) if length > 0 and size > 0 else (416, 0, 0)
        start = int(first)
        end = min(int(last) + 1, size) if last else size
    except ValueError:
        return whole
    if start >= size or end <= start:
        return (416, 0, 0)
    return (206, start, end)


def _check_preconditions(request: web.BaseRequest, etag: str) -> int | None:
    quoted = f'"{etag}"'
    if_match = request.headers.get("If-Match")
    if if_match is not None and if_match.strip() not in (quoted, etag, "*"):
        return 412
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and if_none_match.strip() in (quoted, etag, "*"):
        return 304
    return None


def _encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode("utf-8")).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("bad continuation token") from None


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(timestamp))
