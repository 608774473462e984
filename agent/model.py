"""The chat model agno calls: OpenAIChat over the shared client, minus the SDK's per-call transform.

`client.chat.completions.create` walks every message and tool schema through the SDK's TypedDict
transform before sending; agno has already built plain JSON, so the walk changes nothing and was a
quarter of our own CPU per turn (py-spy over `python -m bench --only overhead`). This model sends
the same body through the client's public `post()` (the SDK's documented way to call any endpoint),
so authentication, retries, timeouts and errors stay the SDK's own. The reply's JSON is validated
into the SDK's own ChatCompletion by pydantic's compiled validator, about a tenth of the cost of the
SDK's lenient per-field construction; a reply it refuses (an OpenAI-compatible server that leaves
out a field the model class requires) is built by the SDK's lenient path as before.
"""
from __future__ import annotations

import json
from typing import Any

from agno.models.openai import OpenAIChat
from openai import NOT_GIVEN, NotGiven, OpenAI, Omit
from openai._models import construct_type
from openai.types.chat import ChatCompletion
from pydantic import ValidationError


def parse_completion(content: bytes) -> ChatCompletion:
    """The ChatCompletion in a reply body: validated when it is complete, else built leniently the
    way the SDK builds every reply (missing fields stay unset, unknown ones are kept)."""
    try:
        return ChatCompletion.model_validate_json(content)
    except ValidationError:
        return construct_type(type_=ChatCompletion, value=json.loads(content))


class PlainJsonCompletions:
    """`chat.completions.create` for bodies that are already plain JSON (streams go to the SDK's own)."""

    def __init__(self, client: OpenAI) -> None:
        self._client = client

    def create(self, *, stream: bool = False, extra_headers: dict | None = None, extra_query: dict | None = None,
               extra_body: dict | None = None, timeout: Any = NOT_GIVEN, **params: Any) -> Any:
        """POST /chat/completions with `params` as the JSON body; the reply is parsed as a ChatCompletion."""
        if stream:
            return self._client.chat.completions.create(stream=True, extra_headers=extra_headers,
                                                        extra_query=extra_query, extra_body=extra_body,
                                                        timeout=timeout, **params)
        body = {key: value for key, value in params.items()
                if value is not None and not isinstance(value, (NotGiven, Omit))}
        body.update(extra_body or {})
        options: dict[str, Any] = {"security": {"bearer_auth": True}}
        if extra_headers:
            options["headers"] = extra_headers
        if extra_query:
            options["params"] = extra_query
        if not isinstance(timeout, NotGiven):
            options["timeout"] = timeout
        return parse_completion(self._client.post("/chat/completions", body=body, cast_to=bytes, options=options))


class _Chat:
    def __init__(self, client: OpenAI) -> None:
        self.completions = PlainJsonCompletions(client)


class PlainJsonClient:
    """The slice of the OpenAI client agno's OpenAIChat uses, with the plain-JSON completions."""

    def __init__(self, client: OpenAI) -> None:
        self.chat = _Chat(client)
        self._client = client

    def is_closed(self) -> bool:
        """Whether the underlying HTTP client was closed."""
        return self._client.is_closed()


_OPTIONAL_PARAMS = ("store", "reasoning_effort", "verbosity", "frequency_penalty", "logit_bias", "logprobs",
                    "top_logprobs", "max_tokens", "max_completion_tokens", "modalities", "audio", "presence_penalty",
                    "seed", "stop", "temperature", "user", "top_p", "extra_headers", "extra_query", "extra_body",
                    "metadata", "service_tier")


class AssistantChatModel(OpenAIChat):
    """agno's OpenAIChat bound to the process's shared OpenAI client."""

    def __init__(self, model_id: str, client: OpenAI) -> None:
        super().__init__(id=model_id, client=client)
        self._plain = PlainJsonClient(client)

    def get_client(self) -> Any:
        """The shared client, with chat completions sent as plain JSON."""
        return self._plain

    def get_request_params(self, response_format: Any = None, tools: list[dict[str, Any]] | None = None,
                           tool_choice: Any = None, run_response: Any = None) -> dict[str, Any]:
        """OpenAIChat's request parameters without its debug line: agno formats the whole request,
        tool schemas included, into that f-string on every call, logged or not (py-spy: 2% of a
        turn). For a Pydantic response format, agno's own method is used."""
        if response_format is not None and not isinstance(response_format, dict):
            return super().get_request_params(response_format, tools, tool_choice, run_response)
        params = {name: value for name in _OPTIONAL_PARAMS if (value := getattr(self, name)) is not None}
        if response_format is not None:
            params["response_format"] = response_format
        if tools:
            params["tools"] = tools
            if tool_choice is not None:
                params["tool_choice"] = tool_choice
        if self.request_params:
            params.update(self.request_params)
        return params
