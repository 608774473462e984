"""End-to-end capacity: 200 senders x 3 messages, model at 2 s, gunicorn on PostgreSQL, rest vs twiml.

Every sender starts at once and sends its next message as soon as the previous webhook was
answered (or Twilio's 15 s ran out). In `rest` a reply counts when it reaches the fake Twilio; in
`twiml` when the TwiML answer came back within 15 s (later, Twilio has hung up and it is lost).
Peak RSS is sampled throughout, summed and per process (gunicorn's master, each web process, the worker). A sweep over thread counts backs the
recommended settings.
"""
from __future__ import annotations

import re
import time
from collections import defaultdict

from ..appproc import GUNICORN_THREADS, GUNICORN_WORKERS, WORKER_THREADS, AppProcess, mib
from ..common import Run, app_env, pg_connections, postgres_database
from ..load import TWILIO_TIMEOUT, Webhook, send_chains, sender_phone, webhook

TITLE = "End-to-end capacity"
MODEL_LATENCY = 2.0
TAG = re.compile(r"cap s(\d+) m(\d+)")


def _order_and_loss(hooks: list[Webhook], arrivals: list[tuple[str, str, float]]) -> dict:
    """Out-of-order replies (per sender, a reply to an earlier message after a later one) and losses."""
    seen: dict[str, list[int]] = defaultdict(list)
    answered_at: dict[tuple[int, int], float] = {}
    for _sender, body, at in arrivals:
        match = TAG.search(body)
        if match:
            key = (int(match[1]), int(match[2]))
            seen[match[1]].append(key[1])
            answered_at.setdefault(key, at)
    out_of_order = sum(1 for order in seen.values() for i, m in enumerate(order) if i and m < max(order[:i]))
    keys = [tuple(int(x) for x in TAG.search(h.body).groups()) for h in hooks]
    lost = sum(1 for key in keys if key not in answered_at)
    last = max(answered_at.values(), default=0.0)
    return {"out_of_order": out_of_order, "lost": lost, "last_answer_at": last}


def _one(ctx: Run, mode: str, senders: int, per_sender: int, worker_threads: int = WORKER_THREADS,
         http_threads: int = GUNICORN_THREADS, label: str = "") -> dict:
    ctx.fakes.call("reset")
    ctx.fakes.call("latency", seconds=MODEL_LATENCY)
    name = label or f"capacity-{mode}"
    with postgres_database("bench_capacity") as url:
        return _measure(ctx, url, mode, senders, per_sender, worker_threads, http_threads, name)


def _measure(ctx: Run, url: str, mode: str, senders: int, per_sender: int, worker_threads: int,
             http_threads: int, name: str) -> dict:
    env = app_env(ctx.fakes, url, REPLY_MODE=mode, WORKER_THREADS=worker_threads)
    with AppProcess("gunicorn", env, ctx.folder(name), gunicorn_threads=http_threads,
                    profile_to=ctx.profile_path(name)) as app:
        chains = [[webhook(app.port, sender_phone(s), f"cap s{s:03d} m{m}: me ajuda com a semana?")
                   for m in range(1, per_sender + 1)] for s in range(senders)]
        hooks = [hook for chain in chains for hook in chain]
        bar = ctx.progress(f"{name} webhooks", len(hooks))
        app.sample_memory()
        started = time.monotonic()
        send_chains(app.port, chains, bar.update)
        bar.close()
        if mode == "rest":
            accepted = sum(1 for h in hooks if h.ok)
            ideal = MODEL_LATENCY * per_sender * senders / min(worker_threads, senders)
            ctx.fakes.wait_messages(accepted, timeout=2 * ideal + 30)
            arrivals = [(m["to"], m["body"], m["at"]) for m in ctx.fakes.call("messages")["messages"]]
        else:
            arrivals = [(h.sender, h.response.decode(errors="replace"), h.done)
                        for h in hooks if h.ok and h.latency <= TWILIO_TIMEOUT]
        peak = app.stop_sampling()
        peaks = mib(app.peak_rss_by_role)
        counts = ctx.fakes.call("count")
        db_connections = pg_connections(url)
    figures = _order_and_loss(hooks, arrivals)
    answered = len(hooks) - figures["lost"]
    finished = max([figures.pop("last_answer_at")] + [h.done for h in hooks])
    span = finished - started if answered else float("nan")
    return {
        "mode": mode, "server": (f"gunicorn -w {GUNICORN_WORKERS} --threads {http_threads} + python -m worker"
                                 if mode == "rest" else f"gunicorn -w 1 --threads {http_threads}"),
        "worker_threads": worker_threads,
        "senders": senders, "messages": len(hooks), "model_latency_s": MODEL_LATENCY,
        "answered_within_15s_share": round(sum(1 for h in hooks if h.ok and h.latency <= TWILIO_TIMEOUT)
                                           / len(hooks), 4),
        "webhook_errors": sum(1 for h in hooks if not h.ok),
        "run_seconds": round(span, 2), "all_delivered": figures["lost"] == 0,
        "answered": answered, "msgs_per_s": round(answered / span, 2) if answered else 0.0,
        "peak_rss_mib": round(peak / 2**20, 1), "peak_rss_by_process_mib": peaks, "model_calls": counts["model_calls"],
        "model_connections": counts["model_connections"], "twilio_sends": counts["messages"],
        "twilio_connections": counts["twilio_connections"], "db_connections": db_connections, **figures,
    }


def run(ctx: Run) -> dict:
    """rest and twiml with the recommended settings, then the thread-count sweep (not with --quick)."""
    senders, per_sender = (40, 3) if ctx.quick else (200, 3)
    rest = _one(ctx, "rest", senders, per_sender)
    twiml = _one(ctx, "twiml", senders, per_sender)
    sweep = []
    if not ctx.quick:
        for threads in (16, 64):
            sweep.append(_one(ctx, "rest", senders, per_sender, worker_threads=threads,
                              label=f"capacity-rest-w{threads}"))
        sweep.append(_one(ctx, "twiml", senders, per_sender, http_threads=64, label="capacity-twiml-t64"))
    ratio = rest["msgs_per_s"] / twiml["msgs_per_s"] if twiml["msgs_per_s"] else float("inf")
    return {"rest": rest, "twiml": twiml, "ratio_rest_to_twiml": round(ratio, 1), "sweep": sweep}
