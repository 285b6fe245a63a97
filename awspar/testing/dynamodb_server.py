"""A DynamoDB-style JSON-protocol endpoint on 127.0.0.1: GetItem, PutItem, DeleteItem in memory.

The requests are DynamoDB's own (``POST /``, ``X-Amz-Target: DynamoDB_20120810.GetItem``,
``application/x-amz-json-1.0``, SigV4 signed for ``dynamodb``), so a boto3 ``dynamodb`` client or
``awspar call dynamodb ...`` pointed at it works unchanged. What it is for: the JSON protocol at
rates moto cannot serve (thousands of calls a second), with the latency and faults of the other
local endpoints (:mod:`awspar.testing.faults`).

- Tables are given up front, ``tables={"demo": "pk"}`` (the hash key's name, or ``("pk", "sk")``
  with a range key), optionally seeded: ``items={"demo": [{"pk": {"S": "a"}, ...}, ...]}``, or
  ``generated={"demo": 1000}`` (items ``item-000001``... with a number ``n`` and a 100-byte
  string ``data``, built when first asked for, not stored until changed).
- GetItem (``ConsistentRead`` and ``ProjectionExpression``/``AttributesToGet`` of plain names
  honoured), PutItem and DeleteItem (``ReturnValues="ALL_OLD"``). Errors as DynamoDB answers them:
  400 ``ResourceNotFoundException`` for an unknown table, ``ValidationException`` for a key that
  does not match the schema, ``UnknownOperationException``, and ``InvalidSignatureException`` /
  ``UnrecognizedClientException`` / ``MissingAuthenticationTokenException`` for bad signatures.
- Faults: ``throttle`` -> 400 ``ProvisionedThroughputExceededException``, ``slowdown`` -> 503
  ``ServiceUnavailable``, ``internal`` -> 500 ``InternalServerError``, ``reset``, ``stall``,
  ``truncate`` (half the body); latency before the answer.

>>> import boto3
>>> from awspar.testing import TEST_CREDENTIALS
>>> with DynamoDBServer(tables={"demo": "pk"}, generated={"demo": 10}) as server:
...     ddb = boto3.client("dynamodb", endpoint_url=server.url, **TEST_CREDENTIALS.boto3_kwargs())
...     ddb.get_item(TableName="demo", Key={"pk": {"S": "item-000003"}})["Item"]["n"]
{'N': '3'}
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from awspar.testing._endpoint import LocalEndpoint
from awspar.testing.faults import Decision, EndpointBehaviour
from awspar.testing.sigv4_verify import verify_sigv4

__all__ = ["DynamoDBServer", "generated_item"]

_TARGET_PREFIX = "DynamoDB_20120810."
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_CONTENT_TYPE = "application/x-amz-json-1.0"
_AUTH_ERRORS = {  # S3-style code from the verifier -> what DynamoDB answers
    "AccessDenied": "MissingAuthenticationTokenException",
    "InvalidAccessKeyId": "UnrecognizedClientException",
    "InvalidToken": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "RequestTimeTooSkewed": "InvalidSignatureException",
}
_FAULT_ERRORS = {
    "throttle": (400, "ProvisionedThroughputExceededException",
                 "The level of configured provisioned throughput for the table was exceeded."),
    "slowdown": (503, "ServiceUnavailable", "The service is currently unavailable or busy."),
    "internal": (500, "InternalServerError", "Internal server error"),
}
Item = dict[str, dict[str, Any]]


def generated_item(index: int) -> Item:
    """Item ``index`` (1-based) of a generated table keyed ``pk``: ``item-000001``, ``n``, ``data``."""
    return {"pk": {"S": f"item-{index:06d}"}, "n": {"N": str(index)}, "data": {"S": f"{index:06d}" * 17}}


class _Refused(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class _Table:
    def __init__(self, key: str | tuple[str, ...], generated: int = 0) -> None:
        self.key = (key,) if isinstance(key, str) else tuple(key)
        self.generated = generated
        self.items: dict[tuple[str, ...], Item | None] = {}  # None: a generated item deleted

    def key_of(self, key: Mapping[str, Any]) -> tuple[str, ...]:
        if not isinstance(key, Mapping) or set(key) != set(self.key):
            raise _Refused("ValidationException", "The provided key element does not match the schema")
        return tuple(json.dumps(key[name], sort_keys=True) for name in self.key)

    def get(self, key: tuple[str, ...]) -> Item | None:
        if key in self.items:
            return self.items[key]
        if self.generated and self.key == ("pk",):
            value = json.loads(key[0]).get("S", "")
            if value.startswith("item-") and value[5:].isdigit() and 1 <= int(value[5:]) <= self.generated:
                return generated_item(int(value[5:]))
        return None


class DynamoDBServer(LocalEndpoint):
    """The DynamoDB-style endpoint (see the module docstring)."""

    signing_name = "dynamodb"

    def __init__(
        self,
        *,
        tables: Mapping[str, str | tuple[str, ...]] | None = None,
        items: Mapping[str, Iterable[Item]] | None = None,
        generated: Mapping[str, int] | None = None,
        behaviour: EndpointBehaviour | None = None,
        verify: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        process: bool = False,
    ) -> None:
        super().__init__(behaviour=behaviour, verify=verify, host=host, port=port, process=process)
        generated = dict(generated or {})
        self._tables = {name: _Table(key, generated.get(name, 0)) for name, key in (tables or {}).items()}
        for name, rows in (items or {}).items():
            table = self._tables[name]
            for item in rows:
                table.items[table.key_of({k: item[k] for k in table.key})] = item

    # -- request handling ---------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.content.read()
        if self.verify:
            failure = verify_sigv4(request.method, request.raw_path, request.headers.items(), body,
                                   service="dynamodb")
            if failure is not None:
                self.count("Unauthorized")
                return _error(400, _AUTH_ERRORS.get(failure.code, "IncompleteSignatureException"), failure.message)
        target = request.headers.get("X-Amz-Target", "")
        operation = target[len(_TARGET_PREFIX):] if target.startswith(_TARGET_PREFIX) else ""
        handler = _OPERATIONS.get(operation)
        if request.method != "POST" or handler is None:
            return _error(400, "UnknownOperationException", f"Unknown operation {target!r}")
        self.count(operation)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "SerializationException", "Start of structure or map found where not expected")
        decision = Decision() if self.quiet else self.decide(request, f"{operation} {body[:200]!r}")
        fault = decision.fault
        wait = decision.delay_s + (self.behaviour.faults.stall_s if fault == "stall" else 0.0)
        if fault == "stall":
            self.count_fault("stall")
        if wait > 0:
            await asyncio.sleep(wait)
        if fault in _FAULT_ERRORS:
            self.count_fault(fault)
            return _error(*_FAULT_ERRORS[fault])
        if fault == "reset":
            return await self.reset_and_wait(request)
        if not self._quota.try_enter():
            self.count_fault("quota")
            return _error(*_FAULT_ERRORS["throttle"])
        try:
            answer = handler(self, params)
        except _Refused as exc:
            return _error(exc.status, exc.code, exc.message)
        finally:
            self._quota.leave()
        data = json.dumps(answer).encode()
        headers = {"Content-Type": _CONTENT_TYPE, "x-amzn-RequestId": _request_id()}
        if fault != "truncate":
            return web.Response(body=data, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.content_length = len(data)
        return await self.stream(request, response, [data], truncate_after=len(data) // 2)

    def _table(self, params: Mapping[str, Any]) -> _Table:
        name = params.get("TableName")
        table = self._tables.get(name) if isinstance(name, str) else None
        if table is None:
            raise _Refused("ResourceNotFoundException", "Requested resource not found")
        return table

    def _get_item(self, params: Mapping[str, Any]) -> dict[str, Any]:
        table = self._table(params)
        item = table.get(table.key_of(params.get("Key")))
        if item is None:
            return {}
        names = params.get("AttributesToGet") or _plain_names(params.get("ProjectionExpression"))
        if names:
            item = {name: value for name, value in item.items() if name in names}
        return {"Item": item}

    def _put_item(self, params: Mapping[str, Any]) -> dict[str, Any]:
        table = self._table(params)
        item = params.get("Item")
        if not isinstance(item, Mapping) or not all(name in item for name in table.key):
            raise _Refused("ValidationException", "One or more parameter values were invalid: "
                                                  "Missing the key in the item")
        key = table.key_of({name: item[name] for name in table.key})
        old = table.get(key)
        table.items[key] = dict(item)
        return {"Attributes": old} if old is not None and params.get("ReturnValues") == "ALL_OLD" else {}

    def _delete_item(self, params: Mapping[str, Any]) -> dict[str, Any]:
        table = self._table(params)
        key = table.key_of(params.get("Key"))
        old = table.get(key)
        table.items[key] = None
        return {"Attributes": old} if old is not None and params.get("ReturnValues") == "ALL_OLD" else {}


_OPERATIONS = {
    "GetItem": DynamoDBServer._get_item,
    "PutItem": DynamoDBServer._put_item,
    "DeleteItem": DynamoDBServer._delete_item,
}


def _plain_names(expression: Any) -> set[str]:
    if not isinstance(expression, str):
        return set()
    return {name.strip() for name in expression.split(",") if name.strip()}


def _request_id() -> str:
    return uuid.uuid4().hex.upper()[:32]


def _error(status: int, code: str, message: str) -> web.Response:
    body = json.dumps({"__type": _ERROR_PREFIX + code, "message": message}).encode()
    return web.Response(status=status, body=body, content_type=_CONTENT_TYPE,
                        headers={"x-amzn-RequestId": _request_id()})
