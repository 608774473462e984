"""Own overhead: with a model that answers at once, the CPU and wall time per message that is ours.

Messages go one at a time (20 senders in turn, so history builds up as in real use), each waited
for until its ledger row is done, and the next one leaves at once: the bench's own bookkeeping is
kept out of the gaps (it reads the fakes' new entries only, and the CPU clocks of pids listed once).
CPU is the CPU clock of the app's processes (web and worker) across that span (webhook, ledger,
worker, agent set-up, tools, storage, reply, chat log); wall is webhook sent -> reply at the fake
Twilio, minus the time the fake model spent serving its requests.

A process that sat idle pays more CPU for the same work: on the Intel host measured, a fifth to a
third more for a one-tool turn after 30 ms of quiet (README, Performance). The
`one_tool_idle` set sends the same turns with IDLE_GAP of quiet before each, the cost on a server
that answers a message now and then; the back-to-back sets are the cost per message of a server
with work to do.

The host's speed moves during a run (on a shared host the same loop took from 55 to 100 ms within
a minute): every PROBE_EVERY messages the bench times a short fixed loop (`stats.loop_ms`) and
reports the median beside each set, so a slow phase of the host shows next to the figures it
inflated. The message after each reading is not counted, since it follows a pause.

A second measurement gives every sender a long history first (1,000 stored runs, copies of its
own last run) and compares chat turns with every run kept (SESSION_MAX_RUNS=0) and with the
default bound: agno reads all of a session's stored runs on each turn. Each sender's first turn
after that (a cold read, and with the bound the trim) is reported apart from the turns that follow.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from storage.db import Database

from ..appproc import AppProcess
from ..common import Run, app_env, postgres_database, seed_users, sqlite_url, wait_done
from ..load import send, sender_phone, webhook
from ..stats import loop_ms, percentile

TITLE = "Own overhead"
SENDERS = 20
WARMUP = 10
LONG_HISTORY = 1000
TODO_STEPS = [{"tool": "make_todo_list", "args": {"title": "Semana", "items": ["Planejar", "Treinar", "Ler"],
                                                  "motivation": "Você consegue!"}},
              {"text": "Pronto! Sua lista está salva."}]


BODIES = {"chat": "conversa {}: me dá uma dica para estudar?", "first": "de volta {}: me dá uma dica?",
          "one_tool": "lista bench {}: organize minha semana", "one_tool_idle": "lista calma {}: organize minha semana"}
IDLE_GAP = 0.03  # seconds of quiet before each message of the one_tool_idle set
PROBE_EVERY = 20  # messages between two readings of the host's speed


@dataclass
class _Seen:
    """How far the loop has read the fakes: replies delivered, model requests timed."""

    delivered: int = 0
    timings: int = 0


def _one_message(ctx: Run, port: int, cpu: Callable[[], float], db: Database, loop: asyncio.AbstractEventLoop,
                 sender: str, body: str, seen: _Seen, idle: float = 0.0) -> dict:
    hook = webhook(port, sender, body)
    if idle:
        time.sleep(idle)
    cpu_before = cpu()
    loop.run_until_complete(send(port, hook))
    arrived = ctx.fakes.call("wait", count=seen.delivered + 1, timeout=30)
    status = wait_done(db, hook.sid)
    used = cpu() - cpu_before
    served = ctx.fakes.call("timings", since=seen.timings)["timings"]
    seen.delivered, seen.timings = arrived["count"], seen.timings + len(served)
    model = sum(seconds for _start, seconds in served)
    return {"cpu": used, "wall": arrived["at"] - hook.sent - model, "ack": hook.latency, "model_calls": len(served),
            "ok": hook.ok and status == "done"}


def _summary(samples: list[dict], host_loops: list[float]) -> dict:
    def ms(key: str, pct: int) -> float:
        return round(percentile([s[key] for s in samples], pct) * 1000, 2)

    host = {"host_loop_ms": round(percentile(host_loops, 50), 1)} if host_loops else {}
    return {"messages": len(samples), **host, "cpu_median_ms": ms("cpu", 50), "cpu_p95_ms": ms("cpu", 95),
            "wall_median_ms": ms("wall", 50), "wall_p95_ms": ms("wall", 95), "ack_median_ms": ms("ack", 50),
            "model_calls_per_turn": round(sum(s["model_calls"] for s in samples) / max(len(samples), 1), 2),
            "failed": sum(1 for s in samples if not s["ok"])}


def lengthen_histories(session_db: Path, phones: list[str], runs: int) -> None:
    """Give each sender `runs` stored runs: copies of its newest run, through agno's own SqliteDb."""
    from agno.db.sqlite import SqliteDb

    db = SqliteDb(db_file=str(session_db))
    try:
        for phone in phones:
            stored, total = db.get_runs(session_id=phone, deserialize=False)
            template = stored[-1]["run_data"]
            for index in range(total, runs):
                db.upsert_run({**template, "run_id": str(uuid.uuid4())}, session_id=phone, user_id=phone,
                              run_index=index)
    finally:
        db.db_engine.dispose()


def _measure(ctx: Run, server: str, database_url: str | None, count: int,
             kinds: tuple[str, ...] = ("chat", "one_tool"), history: int = 0, **extra_env: str) -> dict:
    ctx.fakes.call("reset")
    ctx.fakes.call("script", rules=[{"pattern": r"^lista (bench|calma)", "steps": TODO_STEPS}])
    data_dir = ctx.folder(f"overhead-{server}")
    url = database_url or sqlite_url(data_dir)
    phones = [sender_phone(9000 + i) for i in range(SENDERS)]
    seed_users(url, phones)
    env = app_env(ctx.fakes, url, **extra_env)
    results: dict[str, list[dict]] = {kind: [] for kind in kinds}
    host_loops: dict[str, list[float]] = {kind: [] for kind in kinds}
    warmup = SENDERS if history else WARMUP
    plan = [("warmup", f"oi, aquecendo {i}") for i in range(warmup)]
    plan += [(kind, BODIES[kind].format(i)) for kind in kinds for i in range(SENDERS if kind == "first" else count)]
    bar = ctx.progress(f"overhead {server}" + (f", {history:,} runs" if history else ""), len(plan))
    with AppProcess(server, env, data_dir, profile_to=ctx.profile_path(f"overhead-{server}")) as app:
        db = Database(url, pool_size=1)
        cpu, seen, loop = app.cpu_meter(), _Seen(), asyncio.new_event_loop()
        try:
            after_probe = False
            for i, (kind, body) in enumerate(plan):
                if i == warmup and history:
                    lengthen_histories(data_dir / "sessions.db", phones, history)
                sample = _one_message(ctx, app.port, cpu, db, loop, phones[i % SENDERS], body, seen,
                                      IDLE_GAP if kind == "one_tool_idle" else 0.0)
                if kind != "warmup" and not after_probe:
                    results[kind].append(sample)
                after_probe = kind != "warmup" and i % PROBE_EVERY == 0
                if after_probe:
                    host_loops[kind].append(loop_ms())
                bar.update()
        finally:
            loop.close()
            db.dispose()
    bar.close()
    return {"server": server, "database": "postgresql" if database_url else "sqlite", "idle_gap_ms": IDLE_GAP * 1000,
            **{kind: _summary(samples, host_loops[kind]) for kind, samples in results.items()}}


def run(ctx: Run) -> dict:
    """On python app.py (SQLite) and on gunicorn (PostgreSQL); then long histories, kept whole or bounded."""
    count = 30 if ctx.quick else 200
    kinds = ("chat", "one_tool", "one_tool_idle")
    runs = [_measure(ctx, "app.py", None, count, kinds)]
    if not ctx.quick:
        with postgres_database("bench_overhead") as url:
            runs.append(_measure(ctx, "gunicorn", url, count, kinds))
    history = LONG_HISTORY if not ctx.quick else 200
    long_runs = [{"session_max_runs": bound, "history": history,
                  **_measure(ctx, "app.py", None, count // 2, ("first", "chat"), history, SESSION_MAX_RUNS=str(bound))}
                 for bound in (0, 50)]
    return {"runs": runs, "long_history": long_runs}
