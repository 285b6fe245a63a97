"""Answer validators for first-valid runs: pure, no sockets."""

from __future__ import annotations

import json

import pytest

from awspar._errors import ConfigurationError
from awspar.bedrock.validators import (
    JsonSchemaValidator,
    JsonValidator,
    RegexValidator,
    as_validator,
    parse_validator,
    rejection,
)

SCHEMA = {
    "type": "object",
    "required": ["sql", "tables"],
    "additionalProperties": False,
    "properties": {
        "sql": {"type": "string"},
        "tables": {"type": "array", "items": {"type": "string"}},
        "dialect": {"enum": ["postgres", "mysql"]},
        "limit": {"type": ["integer", "null"]},
    },
}


@pytest.mark.parametrize(
    ("text", "ok"), [('{"a": 1}', True), (" [1, 2]\n", True), ("{'a': 1}", False), ("", False)]
)
def test_json(text, ok):
    assert JsonValidator()(text) is ok
    assert (rejection(JsonValidator(), text) is None) is ok


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"sql": "SELECT 1", "tables": ["t"]}, None),
        ({"sql": "SELECT 1", "tables": [], "dialect": "mysql", "limit": None}, None),
        ({"sql": "SELECT 1"}, "required property 'tables'"),
        ({"sql": 1, "tables": []}, "/sql is not of type string"),
        ({"sql": "x", "tables": ["t", 2]}, "/tables/1 is not of type string"),
        ({"sql": "x", "tables": [], "dialect": "oracle"}, "/dialect is not one of"),
        ({"sql": "x", "tables": [], "limit": True}, "/limit is not of type integer or null"),
        ({"sql": "x", "tables": [], "extra": 1}, "unexpected property 'extra'"),
        ([], "/ is not of type object"),
    ],
)
def test_json_schema_subset(value, why):
    reason = JsonSchemaValidator(SCHEMA).reason(json.dumps(value))
    if why is None:
        assert reason is None
    else:
        assert reason is not None and why in reason


def test_schema_keywords_outside_the_subset_are_refused_not_ignored():
    with pytest.raises(ConfigurationError, match="pattern"):
        JsonSchemaValidator({"type": "object", "properties": {"sql": {"type": "string", "pattern": "^S"}}})
    with pytest.raises(ConfigurationError, match="unknown type"):
        JsonSchemaValidator({"type": "float"})


def test_regex_searches_and_anchors():
    assert RegexValidator("^SELECT")("SELECT * FROM t")
    assert not RegexValidator("^SELECT")("Here it is: SELECT 1")
    assert RegexValidator(r"\bFROM\b")("SELECT 1 FROM t")


def test_callables_and_raising_validators():
    assert rejection(str.isupper, "ABC") is None
    assert rejection(str.isupper, "abc") == "rejected by isupper"
    assert "raised JSONDecodeError" in rejection(json.loads, "{")


def test_cli_specs(tmp_path):
    assert parse_validator("json") == JsonValidator()
    assert parse_validator("regex:^SELECT") == RegexValidator("^SELECT")
    assert parse_validator("regex:a:b").pattern == "a:b"
    inline = parse_validator('schema:{"type": "array"}')
    assert inline("[]") and not inline("{}")
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SCHEMA))
    assert parse_validator(f"schema:{path}") == JsonSchemaValidator(SCHEMA)
    assert as_validator("json") == JsonValidator()


@pytest.mark.parametrize(
    "spec", ["xml", "regex:", "regex:(", "json:x", "schema:/no/such/file.json", "schema:{bad"]
)
def test_bad_cli_specs_give_one_clear_error(spec):
    with pytest.raises(ConfigurationError) as info:
        parse_validator(spec)
    assert "\n" not in str(info.value)


def test_non_callable_validator_is_refused():
    with pytest.raises(ConfigurationError, match="callable"):
        as_validator(42)  # type: ignore[arg-type]
