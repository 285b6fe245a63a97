"""The ``boto3`` engine: the plain boto3 call for each request, in threads. A baseline.

It answers "what would boto3 alone do with the same work?": each job's ``operation`` and
``params`` (kept by the signer) become the ordinary client call, in a thread pool sharing one
client per service with ``max_pool_connections`` set to the concurrency. boto3 signs each call
itself, so the request's own signature (and its staleness) does not matter here; its own retries
are off so that awspar's retry policy, spans and concurrency bound apply as for every engine.
The raw HTTP answer (status, headers, body bytes) is kept through botocore's documented
``after-call`` event, so the results compare byte for byte with the other engines'.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._errors import (
    AwsparError,
    ConfigurationError,
    ConnectError,
    IncompleteBodyError,
    LocalFileError,
    TimeoutError,
    TransportError,
)
from awspar._models import FileSink, SignedRequest, SinkFile
from awspar.engines._attempts import Outcome, Resign, describe_failure
from awspar.engines._pooled import PooledEngine
from awspar.engines._urllib3_send import CHUNK_SIZE, CancelToken

__all__ = ["Boto3Engine", "ClientFactory"]

#: ``(service, botocore Config) -> client``: how the engine gets its one client per service.
ClientFactory = Callable[[str, Any], Any]


class Boto3Engine(PooledEngine):
    """boto3 in threads, one shared client per service.

    ``client_factory(service, config)`` builds the clients (it must pass ``config`` on);
    otherwise ``session`` (a boto3 Session, default: a new one) and ``endpoint_url`` are used.

    >>> engine = Boto3Engine(EngineConfig(concurrency=32), session=session)  # doctest: +SKIP
    """

    name = "boto3"
    signs_itself = True

    def __init__(
        self,
        config: EngineConfig = DEFAULT_CONFIG,
        *,
        resign: Resign | None = None,
        session: Any = None,
        endpoint_url: str | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        super().__init__(config, resign=resign)
        import botocore.config

        self._botocore_config = botocore.config.Config(
            max_pool_connections=config.max_in_flight,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        self._factory = client_factory or _session_factory(session, endpoint_url)
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._captured = threading.local()

    def _client(self, service: str) -> Any:
        with self._clients_lock:
            client = self._clients.get(service)
            if client is None:
                client = self._factory(service, self._botocore_config)
                client.meta.events.register("after-call", self._capture)
                self._clients[service] = client
            return client

    def _capture(self, http_response: Any, **_: Any) -> None:
        self._captured.response = http_response

    def _send(self, request: SignedRequest, sink: FileSink | None, cancel: CancelToken) -> Outcome:
        import botocore.exceptions as bce
        from botocore import xform_name

        start = time.perf_counter()
        if request.params is None or not request.operation:
            return Outcome.failed(start, ConfigurationError(
                f"the boto3 engine needs the operation and parameters of each request; "
                f"{request.operation or request.method} has none (sign it with awspar's Signer)"
            ))
        self._captured.response = None
        try:
            client = self._client(request.service)
            call = getattr(client, xform_name(request.operation_name))
            model = client.meta.service_model.operation_model(request.operation_name)
            try:
                parsed = call(**request.params)
            except bce.ClientError:
                parsed = None  # an HTTP error answer: its raw form was captured
            first_byte = time.perf_counter()
            http = self._captured.response
            if http is None:
                raise TransportError("botocore returned no HTTP response")
            headers = dict(http.headers.items())
            body, path = b"", None
            streaming = parsed is not None and model.has_streaming_output
            if streaming and not model.has_event_stream_output:
                stream = parsed[model.output_shape.serialization.get("payload", "Body")]
                if sink is None or sink.in_memory(http.status_code, _content_length(headers)):
                    body = stream.read()
                else:
                    path = sink.path
                    try:
                        with SinkFile(sink.path, sink.offset) as file:
                            for chunk in stream.iter_chunks(CHUNK_SIZE):
                                file.write(chunk)
                    except LocalFileError:
                        stream.close()  # the rest of the body is not wanted: drop the connection
                        raise
            else:
                body = http.content
            return Outcome(start, time.perf_counter(), http.status_code, headers, body, path, first_byte)
        except AwsparError as exc:
            return Outcome.failed(start, exc)
        except (bce.ReadTimeoutError, bce.ConnectTimeoutError) as exc:
            return Outcome.failed(start, TimeoutError(describe_failure(request.method, request.url, "timed out (boto3)", exc)))
        except (bce.IncompleteReadError, bce.ResponseStreamingError) as exc:
            return Outcome.failed(start, IncompleteBodyError(describe_failure(request.method, request.url, "incomplete body (boto3)", exc)))
        except (bce.EndpointConnectionError, bce.ConnectionClosedError, bce.HTTPClientError) as exc:
            return Outcome.failed(start, ConnectError(describe_failure(request.method, request.url, "connection failed (boto3)", exc)))
        except bce.ParamValidationError as exc:
            return Outcome.failed(start, ConfigurationError(describe_failure(request.method, request.url, "invalid parameters (boto3)", exc)))
        except bce.BotoCoreError as exc:
            return Outcome.failed(start, TransportError(describe_failure(request.method, request.url, f"{type(exc).__name__} (boto3)", exc)))

    def close(self) -> None:
        super().close()
        with self._clients_lock:
            clients, self._clients = self._clients, {}
        for client in clients.values():
            client.close()


def _session_factory(session: Any, endpoint_url: str | None) -> ClientFactory:
    def make(service: str, config: Any) -> Any:
        import boto3

        return (session or boto3.Session()).client(service, endpoint_url=endpoint_url, config=config)

    return make


def _content_length(headers: dict[str, str]) -> int | None:
    value = headers.get("Content-Length") or headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None
