"""Pagination without I/O, from botocore's paginator model: the next page's parameters, and the
pages merged as boto3's ``paginate(...).build_full_result()`` merges them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jmespath

from awspar._errors import AwsparError, ConfigurationError

__all__ = ["Pages"]


class Pages:
    """How one operation pages: which output fields carry the token and which input takes it."""

    def __init__(self, operation_model: Any, config: Mapping[str, Any]) -> None:
        self._model = operation_model
        self._config = config
        outputs = config["output_token"]
        inputs = config["input_token"]
        self._outputs = [jmespath.compile(o) for o in (outputs if isinstance(outputs, list) else [outputs])]
        self._inputs = list(inputs) if isinstance(inputs, list) else [inputs]
        more = config.get("more_results")
        self._more = jmespath.compile(more) if more else None

    @classmethod
    def of(cls, service: str, operation_model: Any) -> Pages:
        """The paging of ``service.operation``; :class:`ConfigurationError` when it does not page."""
        from awspar.parsing import _session

        name = operation_model.name
        try:
            config = _session().get_paginator_model(service).get_paginator(name)
        except Exception:  # noqa: BLE001 - botocore: no paginator model, or none for this operation
            raise ConfigurationError(f"{service}.{name} does not paginate (botocore has no paginator for it)",
                                     service=service, operation=name) from None
        return cls(operation_model, config)

    def next_params(self, params: Mapping[str, Any], page: Mapping[str, Any]) -> dict[str, Any] | None:
        """The parameters of the page after ``page`` (asked for with ``params``), or ``None``."""
        if self._more is not None and not self._more.search(page):
            return None
        tokens = {name: output.search(page) or None for output, name in zip(self._outputs, self._inputs)}
        if all(token is None for token in tokens.values()):
            return None
        following = dict(params)
        for name, token in tokens.items():
            if token is None:
                following.pop(name, None)
            else:
                following[name] = token
        if all(following.get(name) == params.get(name) for name in tokens):
            raise AwsparError(f"{self._model.name}: the same next token was received twice: {tokens}")
        return following

    def merge(self, params: Mapping[str, Any], pages: list[dict[str, Any]]) -> dict[str, Any]:
        """The pages as one result, merged by botocore's own paginator (replaying them)."""
        from botocore.paginate import Paginator

        replay: Iterator[dict[str, Any]] = iter(pages)

        def method(**_: Any) -> dict[str, Any]:
            return next(replay)

        merged: dict[str, Any] = Paginator(method, self._config, self._model).paginate(**params).build_full_result()
        return merged
