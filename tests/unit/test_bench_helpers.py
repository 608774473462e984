"""The bench's own arithmetic and request building (no timing is asserted here)."""
from __future__ import annotations

from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

from bench.fakes import AUTH_TOKEN
from bench.load import webhook
from bench.report import flat_from
from bench.stats import cpu_ticks, ms_summary, percentile, steal_share


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([3.0], 95) == 3.0


def test_ms_summary_converts_seconds():
    summary = ms_summary([0.001, 0.002, 0.010])
    assert summary["p50_ms"] == 2.0 and summary["max_ms"] == 10.0 and summary["n"] == 3


def test_flat_from_finds_where_the_prompt_stops_growing():
    assert flat_from([100, 110, 120, 130, 130, 131, 130]) == 3
    assert flat_from([100, 200, 300, 400]) is None


def test_webhooks_carry_a_signature_twilio_would_send():
    hook = webhook(5000, "+5511900000001", "olá")
    head, _, body = hook.raw.partition(b"\r\n\r\n")
    signature = next(line.split(b": ", 1)[1] for line in head.split(b"\r\n")
                     if line.startswith(b"X-Twilio-Signature"))
    form = dict(parse_qsl(body.decode()))
    assert RequestValidator(AUTH_TOKEN).validate("http://127.0.0.1:5000/whatsapp", form, signature.decode())
    assert form["From"] == "whatsapp:+5511900000001" and form["Body"] == "olá"


def test_steal_share_comes_from_the_cpu_line_of_proc_stat():
    before = cpu_ticks("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3\n")
    after = cpu_ticks("cpu  160 0 80 1500 10 0 5 45 7 0\n")
    assert before == (35, 1000) and after == (45, 1800)
    assert steal_share(before, after) == 0.0125
    assert steal_share(after, after) is None
