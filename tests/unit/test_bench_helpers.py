"""The bench's own arithmetic, request building and host probe (no figure of ours is asserted here)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from bench.fakes import AUTH_TOKEN
from bench.load import webhook
from bench.report import flat_from, markdown_table
from bench.stats import cpu_probe, cpu_ticks, loop_ms, ms_summary, percentile, steal_share


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


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_the_cpu_probe_times_the_loop_with_the_neighbour_idle_and_busy_and_gives_the_affinity_back():
    before = os.sched_getaffinity(0)
    probe = cpu_probe(rounds=1, loops=200_000)
    assert probe["loop_ms"] > 0 and 0.5 < probe["busy_neighbour"] < 5
    assert os.sched_getaffinity(0) == before


def test_the_cpu_probe_on_a_single_cpu_times_the_loop_only():
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from bench.stats import cpu_probe; p = cpu_probe(rounds=1, loops=200_000); "
            "print(p['busy_neighbour'], p['loop_ms'] > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["None", "True"]


def test_the_table_shows_the_cpu_probe_of_each_scenario():
    results = {"machine": {}, "scenarios": {
        "ack": {"error": "x", "cpu_probe": {"before": {"loop_ms": 52.3, "busy_neighbour": 1.01},
                                            "after": {"loop_ms": 95.6, "busy_neighbour": 1.36}}},
        "search": {"error": "y"}}}
    table = markdown_table(results)
    assert "ack 52.3 ms ×1.01 → 95.6 ms ×1.36" in table and "search" not in table.split("its physical core")[-1]


def test_the_idle_set_of_the_overhead_scenario_is_reported_beside_the_gated_rows():
    turn = {"messages": 3, "cpu_median_ms": 12.0, "cpu_p95_ms": 13.0, "wall_median_ms": 14.0, "wall_p95_ms": 15.0,
            "failed": 0}
    results = {"machine": {}, "scenarios": {"overhead": {"runs": [
        {"server": "gunicorn", "database": "postgresql", "idle_gap_ms": 30.0, "chat": turn, "one_tool": turn,
         "one_tool_idle": {**turn, "cpu_median_ms": 18.0}}]}}}
    rows = [line for line in markdown_table(results).splitlines() if line.startswith("| Own overhead")]
    assert len(rows) == 3
    assert rows[1].endswith("| < 15 ms median | ✅ |")
    assert "one-tool turn after 30 ms idle" in rows[2] and "CPU 18" in rows[2] and "| (reported) |" in rows[2]


def test_an_overhead_set_shows_the_host_speed_measured_between_its_messages():
    turn = {"messages": 3, "cpu_median_ms": 12.0, "cpu_p95_ms": 13.0, "wall_median_ms": 14.0, "wall_p95_ms": 15.0,
            "failed": 0}
    results = {"machine": {}, "scenarios": {"overhead": {"runs": [
        {"server": "app.py", "database": "sqlite", "chat": {**turn, "host_loop_ms": 97.3}, "one_tool": turn}]}}}
    rows = [line for line in markdown_table(results).splitlines() if line.startswith("| Own overhead")]
    assert "chat turn, model at 0 s, 3 messages, host loop 97.3 ms |" in rows[0]
    assert "host loop" not in rows[1], "a set measured without readings says nothing of the host"


def test_the_short_loop_reading_is_scaled_to_the_probes_million_iterations():
    assert 0.25 < loop_ms(400_000) / loop_ms(100_000) < 4, "the same scale whatever the length"
