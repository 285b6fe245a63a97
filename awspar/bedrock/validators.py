"""Validators that judge a model's answer text, for ``strategy="first-valid"``.

A validator is any callable ``text -> bool``; a falsy return or an exception rejects the answer.
The built-ins also say *why* they reject (:meth:`reason`), which the per-call table shows:

- :class:`JsonValidator` (``"json"``): the whole answer parses as JSON.
- :class:`JsonSchemaValidator` (``"schema:FILE"`` or ``"schema:{...}"``): JSON matching a schema.
- :class:`RegexValidator` (``"regex:PATTERN"``): ``re.search`` finds the pattern.

JSON Schema support is a deliberate subset (``type``, ``enum``, ``required``, ``properties``,
``additionalProperties``, ``items``) implemented here rather than through the ``jsonschema``
package: it keeps awspar free of another dependency (Lambda cold starts), it judges the same way on
every install, and a schema using any other keyword is refused up front, never half-checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from awspar._errors import ConfigurationError

__all__ = [
    "JsonSchemaValidator",
    "JsonValidator",
    "RegexValidator",
    "Validator",
    "as_validator",
    "parse_validator",
    "rejection",
]

#: Anything that judges an answer's text: a built-in validator or a plain callable.
Validator = Union["JsonValidator", "JsonSchemaValidator", "RegexValidator", Callable[[str], Any]]

_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_CHECKED_KEYWORDS = {"type", "enum", "required", "properties", "additionalProperties", "items"}
_ANNOTATIONS = {"$schema", "$id", "title", "description", "default", "examples", "$comment"}


@dataclass(frozen=True)
class JsonValidator:
    """Accepts an answer whose whole text (surrounding whitespace aside) is one JSON value."""

    name: str = field(default="json", init=False)

    def reason(self, text: str) -> str | None:
        """``None`` when accepted, else why not."""
        try:
            json.loads(text)
        except ValueError as exc:
            return f"not JSON: {exc}"
        return None

    def __call__(self, text: str) -> bool:
        return self.reason(text) is None


def _check_schema_keywords(schema: Any, where: str) -> None:
    if not isinstance(schema, Mapping):
        raise ConfigurationError(f"JSON schema at {where} must be an object")
    unknown = set(schema) - _CHECKED_KEYWORDS - _ANNOTATIONS
    if unknown:
        raise ConfigurationError(
            f"JSON schema at {where} uses {', '.join(sorted(unknown))}; "
            f"supported keywords: {', '.join(sorted(_CHECKED_KEYWORDS))}"
        )
    types = schema.get("type", [])
    for name in [types] if isinstance(types, str) else types:
        if name not in _JSON_TYPES:
            raise ConfigurationError(f"JSON schema at {where}: unknown type {name!r}")
    for key, sub in (schema.get("properties") or {}).items():
        _check_schema_keywords(sub, f"{where}/properties/{key}")
    if "items" in schema:
        _check_schema_keywords(schema["items"], f"{where}/items")


def _schema_error(value: Any, schema: Mapping[str, Any], where: str) -> str | None:
    """The first way ``value`` breaks ``schema``, or ``None``."""
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_JSON_TYPES[n](value) for n in names):
            return f"{where or '/'} is not of type {' or '.join(names)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where or '/'} is not one of {schema['enum']!r}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{where or '/'} lacks the required property {key!r}"
        properties = schema.get("properties") or {}
        for key, item in value.items():
            if key in properties:
                error = _schema_error(item, properties[key], f"{where}/{key}")
                if error:
                    return error
            elif schema.get("additionalProperties") is False:
                return f"{where or '/'} has the unexpected property {key!r}"
    if isinstance(value, list) and "items" in schema:
        for position, item in enumerate(value):
            error = _schema_error(item, schema["items"], f"{where}/{position}")
            if error:
                return error
    return None


@dataclass(frozen=True)
class JsonSchemaValidator:
    """Accepts JSON that matches ``schema`` (the subset in this module's docstring).

    >>> JsonSchemaValidator({"type": "object", "required": ["sql"]})('{"sql": "SELECT 1"}')
    True
    """

    schema: Mapping[str, Any]
    name: str = field(default="json schema", init=False)

    def __post_init__(self) -> None:
        _check_schema_keywords(self.schema, "#")

    def reason(self, text: str) -> str | None:
        """``None`` when accepted, else why not."""
        try:
            value = json.loads(text)
        except ValueError as exc:
            return f"not JSON: {exc}"
        error = _schema_error(value, self.schema, "")
        return f"does not match the schema: {error}" if error else None

    def __call__(self, text: str) -> bool:
        return self.reason(text) is None


@dataclass(frozen=True)
class RegexValidator:
    """Accepts an answer in which ``re.search(pattern)`` finds a match (``^`` anchors at the start)."""

    pattern: str
    name: str = field(default="regex", init=False)
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_compiled", re.compile(self.pattern))
        except re.error as exc:
            raise ConfigurationError(f"bad regular expression {self.pattern!r}: {exc}") from None

    def reason(self, text: str) -> str | None:
        """``None`` when accepted, else why not."""
        return None if self._compiled.search(text) else f"does not match {self.pattern!r}"

    def __call__(self, text: str) -> bool:
        return self.reason(text) is None


def as_validator(validator: Validator | str) -> Validator:
    """A validator from a built-in's spec string (see :func:`parse_validator`) or a callable."""
    if isinstance(validator, str):
        return parse_validator(validator)
    if not callable(validator):
        raise ConfigurationError(
            f"a validator must be callable or a spec string, not {type(validator).__name__}"
        )
    return validator


def rejection(validator: Validator, text: str) -> str | None:
    """``None`` when ``validator`` accepts ``text``, else a one-line reason (exceptions reject)."""
    reason = getattr(validator, "reason", None)
    try:
        if reason is not None:
            result: str | None = reason(text)
            return result
        return None if validator(text) else f"rejected by {getattr(validator, '__name__', 'the validator')}"
    except Exception as exc:  # a validator that raises rejects the answer, and says why
        return f"the validator raised {type(exc).__name__}: {exc}"


def parse_validator(spec: str) -> Validator:
    """A built-in validator from its CLI spelling: ``json``, ``regex:PATTERN``,
    ``schema:PATH`` (a JSON file) or ``schema:{...}`` (inline JSON)."""
    kind, _, argument = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "json" and not argument:
        return JsonValidator()
    if kind == "regex" and argument:
        return RegexValidator(argument)
    if kind == "schema" and argument:
        return JsonSchemaValidator(_load_schema(argument))
    raise ConfigurationError(
        f"unknown validator {spec!r}: use json, regex:PATTERN, schema:FILE or schema:{{...}}"
    )


def _load_schema(argument: str) -> Any:
    text = argument
    if not argument.lstrip().startswith("{"):
        try:
            text = Path(argument).read_text()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the JSON schema {argument!r}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"the JSON schema is not JSON: {exc}") from None
