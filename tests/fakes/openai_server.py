"""A scripted OpenAI-compatible HTTP server: chat completions with tool calls, and transcriptions.

Rules match the latest user message by regular expression and play a list of steps: a tool call
or a text. After a tool result, the next step plays; with none left the server answers with the
tool's result verbatim, so tests can read what a tool returned in the reply the user gets.
Every request body is recorded so tests can inspect exactly what the model was sent.
"""
from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .http_base import BackgroundServer, QuietHandler


@dataclass
class Step:
    """One scripted model answer: a text, or a call of one tool."""

    text: str | None = None
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    status: int | None = None  # answer this step with an HTTP error instead
    refusal: str | None = None  # answer with the model's refusal (no content), as a safety refusal comes


@dataclass
class Rule:
    pattern: re.Pattern
    steps: list[Step]
    delay: float = 0.0
    status: int | None = None


def tool(name: str, **args: Any) -> Step:
    """A step that calls the tool `name` with `args`."""
    return Step(tool=name, args=args)


def say(text: str) -> Step:
    """A step that answers with `text`."""
    return Step(text=text)


def fail(status: int = 500) -> Step:
    """A step answered with an HTTP error (e.g. the model failing after a tool already ran)."""
    return Step(status=status)


def refuse(text: str = "I'm sorry, I can't help with that.") -> Step:
    """A step answered with a refusal, as the model answers an image it will not describe."""
    return Step(refusal=text)


def image_parts(body: dict) -> list[dict]:
    """The image parts of every message of a recorded chat request body."""
    return [part for message in body.get("messages", []) if isinstance(message.get("content"), list)
            for part in message["content"] if isinstance(part, dict) and part.get("type") == "image_url"]


def message_text(message: dict) -> str:
    """The text of a chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


class ScriptedOpenAI(BackgroundServer):
    """The fake model server. Use `on()` to script answers; `requests` holds every body received."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.handler_class = _Handler
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget rules and recorded requests; back to echo answers with no latency."""
        with getattr(self, "lock", threading.Lock()):
            self.rules: list[Rule] = []
            self.requests: list[dict] = []
            self.authorizations: list[str | None] = []
            self.transcriptions: list[dict] = []
            self.latency = 0.0
            self.jitter = 0.0  # each answer waits latency plus a random share of this (seconds)
            self.fail_status: int | None = None
            self.transcript_text = "transcrição de teste"
            self.transcript_status: int | None = None
            self.omit: tuple[str, ...] = ()  # completion fields left out, as some compatible servers do

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def on(self, pattern: str, *steps: Step, delay: float = 0.0, status: int | None = None) -> None:
        """Script the answer to user messages matching `pattern` (case-insensitive regex)."""
        rule = Rule(re.compile(pattern, re.I | re.S), list(steps) or [say("ok")], delay, status)
        with self.lock:
            self.rules.insert(0, rule)

    def chat_requests(self) -> list[dict]:
        """Recorded chat completion request bodies, oldest first."""
        with self.lock:
            return list(self.requests)

    def answer(self, body: dict) -> tuple[int, dict, float]:
        """Decide the (status, json, delay) for one chat completion request."""
        messages = body.get("messages", [])
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        user_text = message_text(messages[last_user]) if last_user >= 0 else ""
        after = messages[last_user + 1:]
        tool_results = [m for m in after if m.get("role") == "tool"]
        with self.lock:
            rule = next((r for r in self.rules if r.pattern.search(user_text)), None)
            fail_status, latency, jitter = self.fail_status, self.latency, self.jitter
        delay = latency + random.uniform(0.0, jitter) + (rule.delay if rule else 0.0)
        if fail_status:
            return fail_status, {"error": {"message": "scripted failure", "type": "server_error"}}, delay
        if rule and rule.status:
            return rule.status, {"error": {"message": "scripted failure", "type": "server_error"}}, delay
        steps = rule.steps if rule else [say(f"Eco: {user_text}")]
        calls_made = sum(1 for m in after if m.get("role") == "assistant" and m.get("tool_calls"))
        if calls_made < len(steps):
            step = steps[calls_made]
        else:
            step = say(message_text(tool_results[-1]) if tool_results else "ok")
        if step.status:
            return step.status, {"error": {"message": "scripted failure", "type": "server_error"}}, delay
        answer = completion(body.get("model", "gpt-4o"), step)
        for name in self.omit:
            answer.pop(name, None)
        return 200, answer, delay


def completion(model: str, step: Step) -> dict:
    """An OpenAI chat.completion object for one step."""
    message: dict[str, Any] = {"role": "assistant", "content": step.text}
    if step.refusal:
        message["refusal"] = step.refusal
    finish = "stop"
    if step.tool:
        message["content"] = None
        message["tool_calls"] = [{
            "id": f"call_{uuid.uuid4().hex[:12]}",
            "type": "function",
            "function": {"name": step.tool, "arguments": json.dumps(step.args)},
        }]
        finish = "tool_calls"
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


class _Handler(QuietHandler):
    server_owner: ScriptedOpenAI

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        owner = self.server_owner
        raw = self.read_body()
        if self.path.endswith("/chat/completions"):
            body = json.loads(raw or b"{}")
            with owner.lock:
                owner.requests.append(body)
                owner.authorizations.append(self.headers.get("Authorization"))
            status, payload, delay = owner.answer(body)
            if delay:
                time.sleep(delay)
            self.send_bytes(status, json.dumps(payload).encode(), "application/json")
        elif self.path.endswith("/audio/transcriptions"):
            with owner.lock:
                owner.transcriptions.append({"size": len(raw), "content_type": self.headers.get("Content-Type", ""),
                                             "body": raw})
                status, text = owner.transcript_status, owner.transcript_text
            if status:
                self.send_bytes(status, b'{"error": {"message": "scripted failure"}}', "application/json")
            else:
                self.send_bytes(200, json.dumps({"text": text}).encode(), "application/json")
        else:
            self.send_bytes(404, b'{"error": {"message": "not found"}}', "application/json")
