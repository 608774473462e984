"""agent.model: chat completions sent as plain JSON are the request the OpenAI SDK itself sends."""
from __future__ import annotations

import pytest
from agno.agent import Agent
from agno.run.base import RunStatus
from openai import APIStatusError, OpenAI

from agent.model import AssistantChatModel, PlainJsonCompletions
from tests.fakes.openai_server import say, tool

TOOLS = [{"type": "function", "function": {
    "name": "search_images", "description": "Busca fotos.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}]
MESSAGES = [{"role": "system", "content": "Você é um assistente."},
            {"role": "user", "content": "mostre fotos de praia"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "search_images", "arguments": "{\"query\": \"praia\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "1 foto"}]


@pytest.fixture
def client(openai_server):
    return OpenAI(api_key="sk-test-key", base_url=openai_server.base_url, max_retries=0)


def test_the_body_and_credentials_match_the_sdk_request(openai_server, client):
    params = dict(model="gpt-4o", messages=MESSAGES, tools=TOOLS, tool_choice="auto", temperature=0.2)
    by_sdk = client.chat.completions.create(**params)
    plain = PlainJsonCompletions(client).create(**params)
    sdk_body, plain_body = openai_server.chat_requests()
    assert plain_body == sdk_body
    assert openai_server.authorizations == ["Bearer sk-test-key"] * 2
    assert plain.model_dump(exclude={"id", "created"}) == by_sdk.model_dump(exclude={"id", "created"})


def test_a_tool_call_reply_parses_as_the_sdk_parses_it(openai_server, client):
    openai_server.on("praia", tool("search_images", query="praia"))
    params = dict(model="gpt-4o", messages=MESSAGES[:2], tools=TOOLS)
    by_sdk = client.chat.completions.create(**params)
    plain = PlainJsonCompletions(client).create(**params)
    assert type(plain) is type(by_sdk) and type(plain.choices[0].message.tool_calls[0]) is \
        type(by_sdk.choices[0].message.tool_calls[0])
    dumps = [reply.model_dump(exclude={"id", "created"}) for reply in (plain, by_sdk)]
    for dump in dumps:
        assert dump["choices"][0]["message"]["tool_calls"][0].pop("id").startswith("call_")
    assert dumps[0] == dumps[1]
    assert plain.choices[0].message.tool_calls[0].function.arguments == '{"query": "praia"}'


def test_a_reply_missing_required_fields_is_still_read_as_the_sdk_reads_it(openai_server, client):
    openai_server.omit = ("object", "created", "usage")
    by_sdk = client.chat.completions.create(model="gpt-4o", messages=MESSAGES[:2])
    plain = PlainJsonCompletions(client).create(model="gpt-4o", messages=MESSAGES[:2])
    assert plain.choices[0].message.content == by_sdk.choices[0].message.content == "Eco: mostre fotos de praia"
    assert plain.model_dump(exclude={"id"}) == by_sdk.model_dump(exclude={"id"})
    assert plain.object is None and plain.usage is None


def test_errors_are_the_sdks_own(openai_server, client):
    openai_server.fail_status = 500
    with pytest.raises(APIStatusError) as raised:
        PlainJsonCompletions(client).create(model="gpt-4o", messages=MESSAGES[:2])
    assert raised.value.status_code == 500


def test_agno_runs_through_it(openai_server, client):
    openai_server.on("olá", say("Oi! Como posso ajudar?"))
    agent = Agent(model=AssistantChatModel("gpt-4o", client), telemetry=False)
    run = agent.run("olá")
    assert run.status == RunStatus.completed and run.content == "Oi! Como posso ajudar?"
    assert openai_server.chat_requests()[-1]["model"] == "gpt-4o"


@pytest.mark.parametrize("settings", [{}, {"temperature": 0.3, "max_tokens": 500, "seed": 7, "user": "u",
                                           "request_params": {"parallel_tool_calls": False}}],
                         ids=["defaults", "tuned"])
@pytest.mark.parametrize("response_format", [None, {"type": "json_object"}], ids=["text", "json"])
def test_request_params_are_agnos_own_without_its_debug_line(client, settings, response_format):
    from agno.models.openai import OpenAIChat

    ours = AssistantChatModel("gpt-4o", client)
    stock = OpenAIChat(id="gpt-4o", client=client)
    for model in (ours, stock):
        for name, value in settings.items():
            setattr(model, name, value)
    for tools, choice in ((None, None), (TOOLS, "auto"), (TOOLS, None)):
        assert ours.get_request_params(response_format, tools, choice) == \
            stock.get_request_params(response_format, tools, choice)
