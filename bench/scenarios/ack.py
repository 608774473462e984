"""Ack latency: signed webhooks at a fixed rate from 200 senders while the model takes 2 s.

Measures how long Twilio waits for its 200 while the worker is busy with the turns the load
itself creates (100 msg/s x 2 s = 200 model calls in flight), on `python app.py` with the embedded
SQLite defaults and on gunicorn with PostgreSQL; then on gunicorn at 25 and 50 msg/s, rates the
worker can keep up with on this machine, to show where the acknowledgement time comes from.
"""
from __future__ import annotations

import time

from ..appproc import AppProcess
from ..common import Run, app_env, postgres_database
from ..load import send_at_rate, sender_phone, webhook
from ..stats import ms_summary

TITLE = "Ack latency"
SENDERS = 200
MODEL_LATENCY = 2.0
# At 100 msg/s the worker answers a little slower than messages arrive on this machine, and works
# off the backlog after the load stops: wait for every reply, and report how long that took.
DRAIN_TIMEOUT = 180.0


def _measure(ctx: Run, server: str, database_url: str | None, rate: float, seconds: float) -> dict:
    ctx.fakes.call("reset")
    ctx.fakes.call("latency", seconds=MODEL_LATENCY)
    env = app_env(ctx.fakes, database_url)
    with AppProcess(server, env, ctx.folder(f"ack-{server}"),
                    profile_to=ctx.profile_path(f"ack-{server}")) as app:
        hooks = [webhook(app.port, sender_phone(i % SENDERS), f"ack {i}: tudo bem?") for i in range(int(rate * seconds))]
        bar = ctx.progress(f"ack {server} {rate:.0f}/s", len(hooks))
        cpu_before, started = app.cpu_seconds(), time.monotonic()
        send_at_rate(app.port, hooks, rate, bar.update)
        wall, cpu = time.monotonic() - started, app.cpu_seconds() - cpu_before
        bar.close()
        accepted = [h for h in hooks if h.ok]
        delivered = ctx.fakes.wait_messages(len(accepted), timeout=DRAIN_TIMEOUT)
        drain = time.monotonic() - started - wall
    return {
        "server": server, "database": "postgresql" if database_url else "sqlite", "rate_per_s": rate,
        "seconds": seconds, "senders": SENDERS, "model_latency_s": MODEL_LATENCY, "sent": len(hooks),
        **ms_summary(h.latency for h in accepted),
        "non_200": sum(1 for h in hooks if not h.ok),
        "generator_lag_max_ms": round(max(h.sent - h.due for h in hooks) * 1000, 2),
        "app_cpu_share": round(cpu / wall, 2), "replies_delivered": delivered,
        "replies_done_after_last_webhook_s": round(drain, 1) if delivered >= len(accepted) else None,
    }


def run(ctx: Run) -> dict:
    """Both servers at the issue's rate, then gunicorn at lower rates (not with --quick)."""
    rate, seconds = 100.0, (5.0 if ctx.quick else 30.0)
    results = [_measure(ctx, "app.py", None, rate, seconds)]
    sweep = []
    if not ctx.quick:
        with postgres_database("bench_ack") as url:
            results.append(_measure(ctx, "gunicorn", url, rate, seconds))
        for lower in (25.0, 50.0):
            with postgres_database("bench_ack") as url:
                sweep.append(_measure(ctx, "gunicorn", url, lower, 20.0))
    return {"runs": results, "sweep": sweep}
