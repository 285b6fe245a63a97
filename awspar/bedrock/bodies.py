"""Bedrock request parameters built from a prompt: Converse, or InvokeModel with the family's body.

Pure functions, no I/O. They return the API parameters botocore's serializer takes (``modelId``,
``messages``...), so the signer builds the HTTP request exactly as boto3 would.

- **Converse** (the default API) is uniform across model families.
- **InvokeModel** needs the model family's own JSON body; two families are supported:
  Anthropic Claude (Messages API, ``anthropic_version: bedrock-2023-05-31``) and Amazon Nova
  (``schemaVersion: messages-v1``). The family is read from the model id once a cross-region
  inference profile prefix (``us.``, ``eu.``, ``apac.``, ``global.``...) is stripped; the id
  itself is always sent unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from awspar._errors import ConfigurationError

__all__ = [
    "SUPPORTED_FAMILIES",
    "Api",
    "Generation",
    "Prompt",
    "converse_params",
    "invoke_params",
    "model_family",
    "normalise_messages",
    "operation_name",
    "request_params",
]

Api = Literal["converse", "invoke"]
#: A plain prompt, or a list of ``{"role": ..., "content": str | [{"text": ...}, ...]}`` messages.
Prompt = Union[str, Sequence[Mapping[str, Any]]]

#: family -> model id prefix (after any inference profile prefix)
SUPPORTED_FAMILIES = {"anthropic": "anthropic.", "nova": "amazon.nova"}
ANTHROPIC_VERSION = "bedrock-2023-05-31"
# Cross-region (system-defined) inference profiles put a geography in front of the model id.
_PROFILE_PREFIX = re.compile(r"^(?:us|us-gov|eu|apac|jp|au|ca|global)\.")
_ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Generation:
    """How to generate: system prompt, token cap and sampling (``None`` leaves the model's default)."""

    max_tokens: int = 512
    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop_sequences: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be at least 1, not {self.max_tokens}")
        if self.temperature is not None and not 0.0 <= self.temperature <= 1.0:
            raise ConfigurationError(f"temperature must be between 0 and 1, not {self.temperature}")
        if self.top_p is not None and not 0.0 <= self.top_p <= 1.0:
            raise ConfigurationError(f"top_p must be between 0 and 1, not {self.top_p}")


def model_family(model_id: str) -> str | None:
    """``"anthropic"``, ``"nova"`` or ``None`` for ``model_id`` (inference profile prefix ignored).

    >>> model_family("us.anthropic.claude-3-5-haiku-20241022-v1:0")
    'anthropic'
    """
    base = _PROFILE_PREFIX.sub("", model_id)
    for family, prefix in SUPPORTED_FAMILIES.items():
        if base.startswith(prefix):
            return family
    return None


def normalise_messages(prompt: Prompt) -> list[dict[str, Any]]:
    """``prompt`` as Converse messages: ``[{"role": "user", "content": [{"text": ...}]}, ...]``."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ConfigurationError("the prompt is empty")
        return [{"role": "user", "content": [{"text": prompt}]}]
    messages = []
    for position, message in enumerate(prompt):
        role = message.get("role")
        if role not in _ROLES:
            raise ConfigurationError(f"message {position}: role must be 'user' or 'assistant', not {role!r}")
        content = message.get("content")
        if isinstance(content, str):
            blocks = [{"text": content}]
        elif (
            isinstance(content, Sequence)
            and content
            and all(isinstance(b, Mapping) and isinstance(b.get("text"), str) for b in content)
        ):
            blocks = [{"text": b["text"]} for b in content]
        else:
            raise ConfigurationError(
                f"message {position}: content must be text or a list of {{'text': ...}} blocks"
            )
        messages.append({"role": role, "content": blocks})
    if not messages:
        raise ConfigurationError("no messages to send")
    if messages[0]["role"] != "user":
        raise ConfigurationError("the first message must have the role 'user'")
    return messages


def _inference_config(generation: Generation) -> dict[str, Any]:
    """Converse's ``inferenceConfig`` (Nova's InvokeModel body uses the same names)."""
    inference: dict[str, Any] = {"maxTokens": generation.max_tokens}
    if generation.temperature is not None:
        inference["temperature"] = generation.temperature
    if generation.top_p is not None:
        inference["topP"] = generation.top_p
    if generation.stop_sequences:
        inference["stopSequences"] = list(generation.stop_sequences)
    return inference


def converse_params(model: str, prompt: Prompt, generation: Generation) -> dict[str, Any]:
    """Parameters for ``Converse`` / ``ConverseStream``."""
    params: dict[str, Any] = {
        "modelId": model,
        "messages": normalise_messages(prompt),
        "inferenceConfig": _inference_config(generation),
    }
    if generation.system:
        params["system"] = [{"text": generation.system}]
    return params


def _anthropic_body(messages: list[dict[str, Any]], generation: Generation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": generation.max_tokens,
        "messages": [
            {"role": m["role"], "content": [{"type": "text", "text": b["text"]} for b in m["content"]]}
            for m in messages
        ],
    }
    if generation.system:
        body["system"] = generation.system
    if generation.temperature is not None:
        body["temperature"] = generation.temperature
    if generation.top_p is not None:
        body["top_p"] = generation.top_p
    if generation.stop_sequences:
        body["stop_sequences"] = list(generation.stop_sequences)
    return body


def _nova_body(messages: list[dict[str, Any]], generation: Generation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemaVersion": "messages-v1",
        "messages": messages,
        "inferenceConfig": _inference_config(generation),
    }
    if generation.system:
        body["system"] = [{"text": generation.system}]
    return body


_BODY_BUILDERS = {"anthropic": _anthropic_body, "nova": _nova_body}


def invoke_params(model: str, prompt: Prompt, generation: Generation) -> dict[str, Any]:
    """Parameters for ``InvokeModel`` / ``InvokeModelWithResponseStream``: the family's JSON body.

    Raises :class:`ConfigurationError` naming the supported families when ``model`` is not one.
    """
    family = model_family(model)
    if family is None:
        supported = ", ".join(f"{name} ({prefix}*)" for name, prefix in SUPPORTED_FAMILIES.items())
        raise ConfigurationError(
            f"--api invoke does not know the request body for model {model!r}; "
            f"supported families: {supported}; use --api converse for other models"
        )
    body = _BODY_BUILDERS[family](normalise_messages(prompt), generation)
    return {
        "modelId": model,
        "body": json.dumps(body).encode(),
        "contentType": "application/json",
        "accept": "application/json",
    }


def request_params(api: Api, model: str, prompt: Prompt, generation: Generation) -> dict[str, Any]:
    """The parameters for ``api`` (``"converse"`` or ``"invoke"``)."""
    if api == "converse":
        return converse_params(model, prompt, generation)
    if api == "invoke":
        return invoke_params(model, prompt, generation)
    raise ConfigurationError(f"api must be 'converse' or 'invoke', not {api!r}")


def operation_name(api: Api, stream: bool) -> str:
    """The Bedrock Runtime operation for ``api``, streaming or not."""
    if api == "converse":
        return "ConverseStream" if stream else "Converse"
    return "InvokeModelWithResponseStream" if stream else "InvokeModel"
