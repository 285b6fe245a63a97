"""Bedrock request parameters and answers: pure, no sockets."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.validate import validate_parameters

from awspar._errors import ConfigurationError
from awspar.bedrock.answer import answer_from_converse, answer_from_invoke
from awspar.bedrock.bodies import Generation, model_family, operation_name, request_params

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "us.amazon.nova-lite-v1:0"


@pytest.fixture(scope="module")
def service_model():
    return botocore.session.get_session().get_service_model("bedrock-runtime")


@pytest.mark.parametrize(
    ("model", "family"),
    [
        (HAIKU, "anthropic"),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic"),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic"),
        ("apac.amazon.nova-micro-v1:0", "nova"),
        ("eu.amazon.nova-pro-v1:0", "nova"),
        ("amazon.titan-text-express-v1", None),
        ("meta.llama3-8b-instruct-v1:0", None),
    ],
)
def test_family_is_read_past_inference_profile_prefixes(model, family):
    assert model_family(model) == family


@pytest.mark.parametrize("api", ["converse", "invoke"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", [HAIKU, NOVA])
def test_params_fit_botocore_input_shape_and_keep_model_id(service_model, api, stream, model):
    params = request_params(
        api, model, "Say hi", Generation(max_tokens=64, system="Be brief", temperature=0.2)
    )
    shape = service_model.operation_model(operation_name(api, stream)).input_shape
    validate_parameters(params, shape)  # raises botocore's ParamValidationError when they do not fit
    assert params["modelId"] == model


def test_converse_params_carry_every_generation_setting():
    generation = Generation(max_tokens=100, system="S", temperature=0.5, top_p=0.9, stop_sequences=("END",))
    params = request_params("converse", HAIKU, [{"role": "user", "content": "Q"}], generation)
    assert params["messages"] == [{"role": "user", "content": [{"text": "Q"}]}]
    assert params["system"] == [{"text": "S"}]
    assert params["inferenceConfig"] == {
        "maxTokens": 100,
        "temperature": 0.5,
        "topP": 0.9,
        "stopSequences": ["END"],
    }


def test_anthropic_invoke_body_is_the_messages_api():
    generation = Generation(max_tokens=50, system="S", temperature=0.1, top_p=0.8, stop_sequences=("X",))
    body = json.loads(request_params("invoke", "us." + HAIKU, "Q", generation)["body"])
    assert body == {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Q"}]}],
        "system": "S",
        "temperature": 0.1,
        "top_p": 0.8,
        "stop_sequences": ["X"],
    }


def test_nova_invoke_body_uses_its_schema():
    body = json.loads(request_params("invoke", NOVA, "Q", Generation(max_tokens=20, system="S"))["body"])
    assert body == {
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": "Q"}]}],
        "inferenceConfig": {"maxTokens": 20},
        "system": [{"text": "S"}],
    }


def test_unknown_family_with_invoke_names_the_supported_ones():
    with pytest.raises(ConfigurationError, match=r"anthropic.*nova.*--api converse"):
        request_params("invoke", "meta.llama3-8b-instruct-v1:0", "Q", Generation())
    # Converse needs no family knowledge.
    assert request_params("converse", "meta.llama3-8b-instruct-v1:0", "Q", Generation())["modelId"]


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("  ", "empty"),
        ([], "no messages"),
        ([{"role": "system", "content": "x"}], "role"),
        ([{"role": "assistant", "content": "x"}], "first message"),
        ([{"role": "user", "content": 3}], "content"),
    ],
)
def test_bad_prompts_are_refused_before_sending(prompt, message):
    with pytest.raises(ConfigurationError, match=message):
        request_params("converse", HAIKU, prompt, Generation())


@pytest.mark.parametrize("bad", [{"max_tokens": 0}, {"temperature": 1.5}, {"top_p": -0.1}])
def test_bad_generation_settings_are_refused(bad):
    with pytest.raises(ConfigurationError):
        Generation(**bad)


def test_answer_from_converse_output():
    parsed = {
        "output": {"message": {"role": "assistant", "content": [{"text": "Hel"}, {"text": "lo"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 7, "outputTokens": 2, "totalTokens": 9},
    }
    answer = answer_from_converse(parsed, index=4, latency=1.5, first_token=1.5)
    assert (answer.text, answer.stop_reason, answer.input_tokens, answer.output_tokens) == (
        "Hello",
        "end_turn",
        7,
        2,
    )
    assert (answer.index, answer.latency, answer.raw) == (4, 1.5, parsed)


def test_answer_from_anthropic_and_nova_invoke_bodies():
    anthropic = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "A"}],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    nova = {
        "output": {"message": {"role": "assistant", "content": [{"text": "N"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 1},
    }
    a = answer_from_invoke({"body": json.dumps(anthropic).encode()}, index=0)
    n = answer_from_invoke({"body": json.dumps(nova).encode()}, index=1)
    assert (a.text, a.stop_reason, a.input_tokens, a.output_tokens, a.raw) == (
        "A",
        "max_tokens",
        3,
        1,
        anthropic,
    )
    assert (n.text, n.stop_reason, n.input_tokens, n.output_tokens) == ("N", "end_turn", 5, 1)
    with pytest.raises(ValueError, match="not JSON"):
        answer_from_invoke({"body": b"{half"})
