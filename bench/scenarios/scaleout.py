"""Scale-out: capacity at zero model latency (CPU-bound) with 1, 2 and 4 worker processes on PostgreSQL.

The same load for each set-up, in one run: SENDERS senders x PER_SENDER messages, every sender at
once, each sending its next message as soon as its previous webhook was answered (so per-sender
order is defined), the fake model answering at once. A reply counts when it reaches the fake
Twilio; turns/s is the replies over the span from the first webhook to the last reply, every
reply counted (also over the middle 10-90 % of the replies, the steady part). Today's
single-process figure (`python app.py` on SQLite: the one worker process fed by the nudge), then
gunicorn and 1, 2 and 4 `python -m worker` on one PostgreSQL database (procrastinate jobs), each
worker with a DATA_DIR of its own as on its own machine. The host's speed swings within minutes,
so the set-ups run in interleaved rounds (ROUNDS, or `--rounds N`) and each is reported by its median run; the
machine's busy CPU beyond the processes measured (someone else's tests, the kernel) is reported
beside each run as `other_cores`.

For each: the CPU seconds per turn of every tier (bench.tiers): web (gunicorn, or app.py without its
worker), workers (summed), PostgreSQL (the server's processes for this database), the load
generator (the bench's sending thread) and the fakes; peak RSS of each process. With the CPU per
turn, `projected_turns_per_s` says what N cores would give (README, Performance).
"""
from __future__ import annotations

import os
import time

from ..appproc import AppProcess, mib
from ..common import Run, app_env, postgres_database
from ..load import send_chains, sender_phone, webhook
from ..stats import cpu_probe, percentile
from ..tiers import busy_ticks, pg_cpu_between, pg_snapshot, per_turn_ms, projected_turns_per_s, saturation_turns_per_s
from .capacity import TAG, _order_and_loss

TITLE = "Scale-out"
WORKER_COUNTS = (1, 2, 4)
SENDERS, PER_SENDER = 200, 5
ROUNDS = 3
# Turn threads per worker: at zero model latency a turn waits only on PostgreSQL, the fakes and the
# GIL, so a few threads keep a process busy; more only queue for its GIL.
THREADS = int(os.environ.get("BENCH_SCALEOUT_THREADS", "8"))
# WORKER_NICE of the workers. 0 here: on two vCPUs shared with PostgreSQL, the web, the fakes and the
# load generator the product's default (5, which keeps acks quick beside a busy worker) gives each
# worker a third of their CPU weight; a worker machine of its own has nobody to yield to.
NICE = os.environ.get("BENCH_SCALEOUT_NICE", "0")
MALLOC_ARENA_MAX = os.environ.get("BENCH_MALLOC_ARENA_MAX")
# The single-process PostgreSQL figures of the last run before the engine (bench/results.json of
# 479df03, commit bf2df57, 2026-12-03): own CPU per turn at zero model latency, one web and one worker.
PREVIOUS_POSTGRESQL = {"commit": "bf2df57", "chat_cpu_ms": 9.89, "one_tool_cpu_ms": 12.38,
                       "capacity_rest_msgs_per_s_model_2s": 63.87,
                       "note": "own CPU per turn (web + worker, PostgreSQL not counted), overhead scenario; "
                               "its ceiling for one worker process is 1000 / chat_cpu_ms turns/s"}
assert TAG.pattern.startswith("cap ")  # the bodies below are tagged the way capacity's checks read them


def _window_rate(arrivals: list[float], low: float = 0.1, high: float = 0.9) -> float:
    """Replies per second between the `low` and `high` shares of the replies (the steady part)."""
    ordered = sorted(arrivals)
    if len(ordered) < 10:
        return float("nan")
    first, last = int(low * len(ordered)), int(high * len(ordered)) - 1
    span = ordered[last] - ordered[first]
    return round((last - first) / span, 1) if span > 0 else float("nan")


def _env(ctx: Run, url: str | None) -> dict[str, str]:
    extra = {"WORKER_THREADS": THREADS}
    if NICE is not None:
        extra["WORKER_NICE"] = NICE
    if MALLOC_ARENA_MAX:
        extra["MALLOC_ARENA_MAX"] = MALLOC_ARENA_MAX
    return app_env(ctx.fakes, url, **extra)


def _measure(ctx: Run, label: str, server: str, url: str | None, workers: int, senders: int,
             per_sender: int) -> dict:
    ctx.fakes.call("reset")
    ctx.fakes.call("latency", seconds=0)
    database = url.rsplit("/", 1)[-1] if url else None
    fakes_pid = ctx.fakes.proc.pid
    with AppProcess(server, _env(ctx, url), ctx.folder(f"scaleout-{label}"), workers=workers,
                    profile_to=ctx.profile_path(f"scaleout-{label}")) as app:
        chains = [[webhook(app.port, sender_phone(s), f"cap s{s:03d} m{m}: me ajuda com a semana?")
                   for m in range(1, per_sender + 1)] for s in range(senders)]
        hooks = [hook for chain in chains for hook in chain]
        bar = ctx.progress(f"scaleout {label}", len(hooks))
        tiers = app.tier_cpu_meter()
        from ..appproc import process_cpu_seconds

        app.sample_memory(interval=0.25)
        pg_before = pg_snapshot(database) if url else None
        before, fakes_before = tiers(), process_cpu_seconds(fakes_pid)
        busy_before = busy_ticks()
        load_before, started = time.thread_time(), time.monotonic()
        send_chains(app.port, chains, bar.update)
        load_cpu = time.thread_time() - load_before
        sent_at = time.monotonic()
        bar.close()
        accepted = sum(1 for h in hooks if h.ok)
        ctx.fakes.wait_messages(accepted, timeout=30 + accepted / 5)
        after, fakes_after = tiers(), process_cpu_seconds(fakes_pid)
        busy_after, ended = busy_ticks(), time.monotonic()
        pg_cpu = pg_cpu_between(pg_before, pg_snapshot(database)) if url else 0.0
        app.stop_sampling()
        peaks = mib(app.peak_rss_by_role)
        arrivals = [(m["to"], m["body"], m["at"]) for m in ctx.fakes.call("messages")["messages"]]
    figures = _order_and_loss(hooks, arrivals)
    answered = len(hooks) - figures["lost"]
    last = figures.pop("last_answer_at")
    span = last - started if answered else float("nan")
    cpu = {"web": after["web"] - before["web"], "workers": after["workers"] - before["workers"]}
    if url:
        cpu["postgres"] = pg_cpu
    cpu.update({"load": load_cpu, "fakes": fakes_after - fakes_before})
    per_turn = per_turn_ms(cpu, answered)
    cores = os.cpu_count() or 1
    turns_per_s = round(answered / span, 1) if answered else 0.0
    return {
        "label": label, "server": server, "database": "postgresql" if url else "sqlite", "workers": workers,
        "worker_threads": THREADS, "worker_nice": NICE, "senders": senders, "messages": len(hooks),
        "answered": answered, "webhook_errors": sum(1 for h in hooks if not h.ok), **figures,
        "run_seconds": round(span, 2), "webhooks_sent_in_s": round(sent_at - started, 2),
        "turns_per_s": turns_per_s, "steady_turns_per_s": _window_rate([a[2] for a in arrivals]),
        "cpu_s": {tier: round(value, 3) for tier, value in cpu.items()}, "cpu_ms_per_turn": per_turn,
        "cpu_cores_used": round(sum(cpu.values()) / span, 2) if answered else 0.0,
        "other_cores": round(max(0.0, (busy_after - busy_before) / (os.sysconf("SC_CLK_TCK") or 100)
                                 - sum(cpu.values())) / (ended - started), 2),
        "saturation_turns_per_s": saturation_turns_per_s(per_turn, cores),
        "projected_turns_per_s": {str(n): projected_turns_per_s(per_turn, n, None) for n in (2, 4, 8, 16, 32)},
        "peak_rss_by_process_mib": peaks,
        "malloc_arena_max": MALLOC_ARENA_MAX or "default",
    }


def median_run(runs: list[dict]) -> dict:
    """The run whose turns/s is the median of `runs` (the lower middle one of an even count)."""
    ordered = sorted(runs, key=lambda r: r["turns_per_s"])
    return ordered[(len(ordered) - 1) // 2]


def ratio(by_label: dict[str, dict], high: str, low: str, key: str = "turns_per_s") -> float:
    """`high`'s figure over `low`'s, NaN when either is missing or zero."""
    if high not in by_label or low not in by_label or not by_label[low][key]:
        return float("nan")
    return round(by_label[high][key] / by_label[low][key], 2)


def run(ctx: Run) -> dict:
    """SQLite's single worker process, then PostgreSQL with 1, 2 and 4 workers, in interleaved rounds;
    each set-up's median run and the ratios between them."""
    senders, per_sender = (40, 3) if ctx.quick else (SENDERS, PER_SENDER)
    rounds = 1 if ctx.quick else ctx.options.get("rounds") or ROUNDS
    runs: list[dict] = []
    for index in range(rounds):
        probe = cpu_probe(rounds=1)
        found = [_measure(ctx, "sqlite-app.py", "app.py", None, 1, senders, per_sender)]
        for count in WORKER_COUNTS:
            with postgres_database("bench_scaleout") as url:
                found.append(_measure(ctx, f"postgresql-{count}w", "gunicorn", url, count, senders, per_sender))
        for figures in found:
            figures.update({"round": index + 1, "round_cpu_probe": probe})
        runs += found
    labels = list(dict.fromkeys(r["label"] for r in runs))
    medians = {label: median_run([r for r in runs if r["label"] == label]) for label in labels}
    spread = {label: [r["turns_per_s"] for r in runs if r["label"] == label] for label in labels}
    per_round = [ratio({r["label"]: r for r in runs if r["round"] == index + 1}, "postgresql-2w", "postgresql-1w")
                 for index in range(rounds)]
    return {"median": medians, "turns_per_s_by_round": spread, "rounds": rounds, "runs": runs,
            "previous_postgresql": PREVIOUS_POSTGRESQL, "cores": os.cpu_count(),
            "ratio_2_to_1": ratio(medians, "postgresql-2w", "postgresql-1w"),
            "ratio_4_to_1": ratio(medians, "postgresql-4w", "postgresql-1w"),
            "ratio_2_to_1_by_round": per_round, "ratio_2_to_1_median_of_rounds": percentile(per_round, 50)}
