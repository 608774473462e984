"""The fake model and Twilio servers in a process of their own, driven over a JSON-lines pipe.

Run apart from the app so their threads never compete for the app's GIL. `python -m bench.fakes`
starts both, prints their URLs as one JSON line, then answers one JSON command per stdin line.
`FakesProcess` is the bench's handle on it. Timestamps are `time.monotonic()`, which on Linux is
one clock for every process, so the bench can compare them with its own.
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.fakes import openai_server, twilio_server
from tests.fakes.openai_server import ScriptedOpenAI, Step
from tests.fakes.twilio_server import FakeTwilio

ACCOUNT_SID = "AC" + "b3nc4" * 6 + "bb"
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
FROM_NUMBER = "whatsapp:+14155238886"
ROOT = Path(__file__).resolve().parent.parent


class _CountingHandler:
    """Handler mixin: each TCP connection a client opens counted on the server (the fakes' own
    handler already turns Nagle's algorithm off)."""

    def setup(self) -> None:
        super().setup()
        with self.server_owner.lock:
            self.server_owner.connections += 1


class TimedModel(ScriptedOpenAI):
    """ScriptedOpenAI that also keeps, per chat request, when it arrived (its request line) and how long
    it was served until its answer was sent,
    and counts the TCP connections clients opened (a client that reuses connections opens few)."""

    def __init__(self) -> None:
        super().__init__()
        self.timings: list[tuple[float, float]] = []
        self.connections = 0

        class Handler(_CountingHandler, openai_server._Handler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                super().do_POST()
                if self.path.endswith("/chat/completions"):
                    started = self.request_started  # its request line arrived: header parsing is the fake's
                    with self.server_owner.lock:
                        self.server_owner.timings.append((started, time.monotonic() - started))

        self.handler_class = Handler

    def reset(self) -> None:
        super().reset()
        self.timings = []
        self.connections = 0


class CountingTwilio(FakeTwilio):
    """FakeTwilio that counts the TCP connections its clients opened."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__(account_sid, auth_token)
        self.connections = 0

        class Handler(_CountingHandler, twilio_server._Handler):
            pass

        self.handler_class = Handler

    def reset(self) -> None:
        super().reset()
        self.connections = 0


def _step(raw: dict[str, Any]) -> Step:
    return Step(text=raw.get("text"), tool=raw.get("tool"), args=raw.get("args") or {})


class Commands:
    """What the pipe can ask: each method takes the JSON fields and returns a JSON-able answer."""

    def __init__(self, model: TimedModel, twilio: CountingTwilio) -> None:
        self.model, self.twilio = model, twilio

    def reset(self) -> dict:
        self.model.reset()
        self.twilio.reset()
        return {}

    def latency(self, seconds: float) -> dict:
        with self.model.lock:
            self.model.latency = float(seconds)
        return {}

    def script(self, rules: list[dict]) -> dict:
        for rule in rules:
            self.model.on(rule["pattern"], *[_step(s) for s in rule["steps"]])
        return {}

    def transcript(self, text: str) -> dict:
        with self.model.lock:
            self.model.transcript_text = text
        return {}

    def add_media(self, data_b64: str, content_type: str) -> dict:
        return {"url": self.twilio.add_media(None, base64.b64decode(data_b64), content_type)}

    def count(self) -> dict:
        with self.model.lock:
            transcriptions = len(self.model.transcriptions)
        return {"messages": len(self.twilio.messages()), "model_calls": len(self.model.chat_requests()),
                "transcriptions": transcriptions, "model_connections": self.model.connections,
                "twilio_connections": self.twilio.connections}

    def wait(self, count: int, timeout: float) -> dict:
        """Block until the fake Twilio holds `count` messages; the newest one's arrival time."""
        found = self.twilio.wait_for(count, timeout=timeout)
        return {"count": len(found), "at": found[count - 1].monotonic}

    def messages(self, since: int = 0) -> dict:
        found = self.twilio.messages()[since:]
        return {"messages": [{"to": m.to, "body": m.body, "media": m.media_urls, "at": m.monotonic}
                             for m in found]}

    def timings(self, since: int = 0) -> dict:
        """(arrival, seconds served) of each chat request from index `since` on."""
        with self.model.lock:
            return {"timings": self.model.timings[since:]}

    def model_requests(self, since: int = 0) -> dict:
        with self.model.lock:
            bodies, timings = self.model.requests[since:], self.model.timings[since:]
            transcriptions = len(self.model.transcriptions)
        return {"requests": bodies, "timings": timings, "transcriptions": transcriptions}


def serve() -> None:
    """The child process: start both servers, print their URLs, answer commands until stdin closes."""
    model = TimedModel().start()
    twilio = CountingTwilio(ACCOUNT_SID, AUTH_TOKEN).start()
    commands = Commands(model, twilio)
    print(json.dumps({"model_url": model.base_url, "twilio_url": twilio.api_base_url}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        try:
            answer = {"ok": getattr(commands, op)(**request)}
        except Exception as exc:  # the pipe must keep answering whatever one command does
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


class FakesProcess:
    """Starts `python -m bench.fakes` and calls its commands; use as a context manager."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.model_url = self.twilio_url = ""
        self._lock = threading.Lock()

    def __enter__(self) -> "FakesProcess":
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.fakes"], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        urls = json.loads(self.proc.stdout.readline())
        self.model_url, self.twilio_url = urls["model_url"], urls["twilio_url"]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def call(self, op: str, **fields: Any) -> Any:
        """Run one command in the fakes process and return its answer."""
        with self._lock:
            self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            self.proc.stdin.flush()
            answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"fakes process: {answer['error']}")
        return answer["ok"]

    def app_env(self) -> dict[str, str]:
        """The environment variables that point an assistant at these fakes."""
        return {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": self.model_url, "OPENAI_TIMEOUT": "60",
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_WHATSAPP_NUMBER": FROM_NUMBER, "TWILIO_API_BASE_URL": self.twilio_url}

    def wait_messages(self, count: int, timeout: float, poll: float = 0.1) -> int:
        """Poll until the fake Twilio holds `count` messages or `timeout` passes; returns the count seen."""
        deadline = time.monotonic() + timeout
        seen = self.call("count")["messages"]
        while seen < count and time.monotonic() < deadline:
            time.sleep(poll)
            seen = self.call("count")["messages"]
        return seen


if __name__ == "__main__":
    serve()
