"""A sender's first turn against the turns after it, with 1,000 and 10,000 runs stored, on SQLite and PostgreSQL.

`python -m bench.first_turn [--history 1000 10000] [--senders 7]` drives `Assistant.respond` in this
process against the fake model server (tests/fakes, in threads of its own) and reports the median
CPU of the calling thread per turn: each sender's first turn in a new `Services` (a fresh run cache,
as after a start), then three later turns each. `bounded` is the shipped read (the newest
HISTORY_RUNS runs); `whole` is the same storage reading every run, as before. SESSION_MAX_RUNS is 0
(every run kept, so no trim) unless `--max-runs` says otherwise. `--write` also keeps the lines in
bench/results.json (scenario `first_turn`), for the README's table (`python -m bench.report`).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from agno.db.utils import build_single_run_row

from agent.runtime import Assistant
from agent.session_store import open_session_db
from agent.turn import Turn
from config import build_config
from services import build_services
from tests.fakes.openai_server import ScriptedOpenAI
from tests.fixtures.app import app_environment

from .common import postgres_database

LATER = 3
RESULTS = Path(__file__).resolve().parent / "results.json"


def _cpu_ms(assistant: Assistant, phone: str, text: str) -> float:
    started = time.thread_time()
    assistant.respond(Turn(sender=phone, text=text))
    return (time.thread_time() - started) * 1000


def _lengthen(session_db, phones: list[str], history: int) -> None:
    """Give each sender `history` stored runs: copies of its newest run, inserted in bulk."""
    runs = session_db._get_table(table_type="runs")
    for phone in phones:
        stored, total = session_db.get_runs(session_id=phone, deserialize=False)
        template = stored[-1]["run_data"]
        rows = [build_single_run_row(run={**template, "run_id": str(uuid.uuid4())}, session_id=phone,
                                     user_id=phone, run_index=index) for index in range(total, history)]
        with session_db.db_engine.begin() as conn:
            for start in range(0, len(rows), 2000):
                conn.execute(runs.insert(), rows[start:start + 2000])


def measure(model: ScriptedOpenAI, database_url: str | None, data_dir: Path, history: int, senders: int,
            max_runs: int) -> dict:
    """Median CPU (ms) of first and later turns, bounded read and whole read, for one store and history."""
    env = app_environment(data_dir, openai_server=model, SESSION_MAX_RUNS=str(max_runs), WORKER_THREADS="4",
                          **({"DATABASE_URL": database_url} if database_url else {}))
    config = build_config(env)
    phones = [f"+55119{history:05d}{i:04d}" for i in range(senders * 2)]
    services = build_services(config)
    setup = Assistant(services)
    for phone in phones:
        setup.respond(Turn(sender=phone, text="oi"))
    _lengthen(services.session_db, phones, history)
    services.close()
    found = {}
    for read, group in (("bounded", phones[:senders]), ("whole", phones[senders:])):
        services = build_services(config)
        if read == "whole":
            services.session_db.db_engine.dispose()
            services = replace(services, session_db=open_session_db(config.session_store_url, 4, None))
        assistant = Assistant(services)
        assistant.warm_up()
        for text in ("aquecendo", "aquecendo de novo"):
            _cpu_ms(assistant, f"+5511800000{history % 10000:04d}", text)
        first = [_cpu_ms(assistant, phone, "de volta: me dá uma dica?") for phone in group]
        later = [_cpu_ms(assistant, phone, f"conversa {n}: e mais uma?") for n in range(LATER) for phone in group]
        services.close()
        found[read] = {"first_ms": round(statistics.median(first), 2), "later_ms": round(statistics.median(later), 2),
                       "ratio": round(statistics.median(first) / statistics.median(later), 2)}
    return found


def main() -> None:
    """Run every (store, history) pair and print one JSON line per pair."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--senders", type=int, default=7)
    parser.add_argument("--max-runs", type=int, default=0, help="SESSION_MAX_RUNS (0: every run kept)")
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--write", type=Path, nargs="?", const=RESULTS, metavar="JSON",
                        help=f"also keep the results in this bench results file (default {RESULTS.name})")
    args = parser.parse_args()
    model = ScriptedOpenAI().start()
    lines = []
    try:
        for store in args.stores:
            for history in args.history:
                with tempfile.TemporaryDirectory() as scratch:
                    if store == "sqlite":
                        result = measure(model, None, Path(scratch), history, args.senders, args.max_runs)
                    else:
                        with postgres_database("bench_first_turn") as url:
                            result = measure(model, url, Path(scratch), history, args.senders, args.max_runs)
                lines.append({"store": store, "history": history, "session_max_runs": args.max_runs, **result})
                print(json.dumps(lines[-1]), flush=True)
    finally:
        model.stop()
    if args.write:
        keep(args.write, {"runs": lines, "senders": args.senders, "later_turns_each": LATER,
                          "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def keep(path: Path, figures: dict) -> None:
    """Put `figures` in the results file at `path` as the scenario `first_turn`, other scenarios kept."""
    results = json.loads(path.read_text()) if path.is_file() else {"scenarios": {}}
    results.setdefault("scenarios", {})["first_turn"] = figures
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    draft.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    draft.replace(path)


if __name__ == "__main__":
    main()
