"""Markdown tables of bench/results.json against the issue's targets (`python -m bench.report`)."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

OK, MISS, INFO = "✅", "❌", "—"


def _mark(passed: bool | None) -> str:
    return INFO if passed is None else (OK if passed else MISS)


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _delivery(run: dict) -> str:
    done = run.get("replies_done_after_last_webhook_s")
    if done is None:
        return f"{run['replies_delivered']:,} of {run['sent']:,} replies delivered before the bench stopped waiting"
    return f"all {run['replies_delivered']:,} replies delivered, the last {_num(done)} s after the last webhook"


def _ack_rows(figures: dict) -> list[tuple]:
    rows = []
    for run in figures.get("runs", []) + figures.get("sweep", []):
        where = f"{run['server']} ({run['database']})"
        result = (f"p50 {_num(run['p50_ms'])} · p95 {_num(run['p95_ms'])} · p99 {_num(run['p99_ms'])} · "
                  f"max {_num(run['max_ms'])} ms; {run['non_200']} non-200; app CPU {run['app_cpu_share']:.2f} "
                  f"cores; {_delivery(run)}")
        gated = run["rate_per_s"] >= 100
        rows.append((f"Ack latency, {where}", f"{run['rate_per_s']:.0f} msg/s for {run['seconds']:.0f} s, "
                     f"{run['senders']} senders, model {run['model_latency_s']:.0f} s", result,
                     "p99 < 20 ms" if gated else "(reported)",
                     _mark(run["p99_ms"] < 20 and run["non_200"] == 0) if gated else INFO))
    return rows


def _capacity_rows(figures: dict) -> list[tuple]:
    if "rest" not in figures:
        return []
    rest, twiml = figures["rest"], figures["twiml"]
    rows = []
    for run in (rest, twiml):
        result = (f"{100 * run['answered_within_15s_share']:.1f}% answered ≤ 15 s; all replies in "
                  f"{_num(run['run_seconds'])} s; {_num(run['msgs_per_s'])} msg/s; "
                  f"{run['out_of_order']} out of order; {run['lost']} lost")
        if run is rest:
            target = "100% ≤ 15 s, all delivered, 0 out of order, 0 lost"
            passed = (run["answered_within_15s_share"] == 1 and run["all_delivered"] and run["out_of_order"] == 0
                      and run["lost"] == 0)
        else:
            target, passed = "(baseline)", None
        rows.append((f"Capacity, {run['mode']}", f"{run['senders']} senders × {run['messages'] // run['senders']}, "
                     f"model {run['model_latency_s']:.0f} s, {run['server']}, WORKER_THREADS={run['worker_threads']}",
                     result, target, _mark(passed)))
    ratio = figures["ratio_rest_to_twiml"]
    rows.append(("Capacity, rest ÷ twiml", "messages answered per second", f"{_num(ratio)}×", "≥ 20×",
                 _mark(ratio >= 20)))
    rows.append(("Memory", "peak RSS, summed over the app's processes (web and worker), during the capacity runs",
                 f"rest {_num(rest['peak_rss_mib'])} MiB · twiml {_num(twiml['peak_rss_mib'])} MiB", "(reported)",
                 INFO))
    peaks = rest.get("peak_rss_by_process_mib")
    if peaks:
        worker = max((v for k, v in peaks.items() if k.startswith("worker")), default=None)
        rows.append(("Memory, per process", f"peak RSS of each process, capacity rest run "
                     f"(WORKER_THREADS={rest['worker_threads']})", rss_cells(peaks), "worker < 250 MiB",
                     _mark(worker < 250) if worker is not None else INFO))
    return rows


def rss_cells(peaks: dict[str, float]) -> str:
    """`web-1 155.9 · worker-1 206.1 MiB`: peak RSS by process."""
    return " · ".join(f"{role} {_num(value)}" for role, value in peaks.items()) + " MiB"


def _tiers(per_turn: dict) -> str:
    names = (("web", "web"), ("workers", "workers"), ("postgres", "PostgreSQL"), ("load", "load generator"),
             ("fakes", "fakes"))
    return " · ".join(f"{label} {_num(per_turn[key], 2)}" for key, label in names if key in per_turn) + " ms"


def _first_turn_rows(figures: dict) -> list[tuple]:
    """bench.first_turn: a sender's first turn (a fresh run cache) against the turns after it."""
    rows = []
    for run in figures.get("runs", []):
        bounded, whole = run["bounded"], run["whole"]
        rows.append((f"First turn, {run['store']} sessions, {run['history']:,} runs stored",
                     f"median CPU of the turn's thread, {figures['senders']} senders, "
                     f"{figures['later_turns_each']} later turns each (python -m bench.first_turn)",
                     f"first {_num(bounded['first_ms'], 2)} · later {_num(bounded['later_ms'], 2)} ms: "
                     f"{_num(bounded['ratio'], 2)}× (reading every run, as before: {_num(whole['ratio'], 2)}×)",
                     "< 2×", _mark(bounded["ratio"] < 2)))
    return rows


def _scaleout_rows(figures: dict) -> list[tuple]:
    medians = figures.get("median")
    if not medians:
        return []
    rounds, spread = figures["rounds"], figures["turns_per_s_by_round"]
    rows = []
    for label, run in medians.items():
        if run["database"] == "sqlite":
            where = "Scale-out, app.py (sqlite), 1 worker process (today's single process)"
            server = "python app.py + its worker"
        else:
            count = run["workers"]
            where = f"Scale-out, gunicorn (postgresql), {count} worker process{'es' if count > 1 else ''}"
            server = f"gunicorn -w 2 --threads 8 + {count} × python -m worker"
        others = f"; others on the host {_num(run['other_cores'], 2)} cores" if run.get("other_cores") else ""
        rows.append((where, f"{run['senders']} senders × {run['messages'] // run['senders']}, model 0 s, {server}, "
                     f"WORKER_THREADS={run['worker_threads']}, WORKER_NICE={run.get('worker_nice')}, median of {rounds} round(s)",
                     f"{_num(run['turns_per_s'])} turns/s (rounds {' / '.join(_num(v) for v in spread[label])}); "
                     f"{run['out_of_order']} out of order; {run['lost']} lost; CPU per turn {_tiers(run['cpu_ms_per_turn'])}; "
                     f"{_num(run['cpu_cores_used'], 2)} cores used{others}; peak RSS {rss_cells(run['peak_rss_by_process_mib'])}",
                     "0 lost, 0 out of order", _mark(run["lost"] == 0 and run["out_of_order"] == 0)))
    two = figures.get("ratio_2_to_1")
    by_round = ", ".join(_num(v, 2) for v in figures.get("ratio_2_to_1_by_round", []))
    rows.append(("Scale-out, 2 ÷ 1 worker processes", "turns/s, median runs (per round)",
                 f"{_num(two, 2)}× ({by_round}); 4 ÷ 1: {_num(figures.get('ratio_4_to_1'), 2)}×", "≥ 1.4×",
                 _mark(two is not None and not math.isnan(two) and two >= 1.4)))
    widest = max((r for r in medians.values() if r["database"] == "postgresql"), key=lambda r: r["workers"], default=None)
    if widest:
        cost = widest["cpu_ms_per_turn"]
        app_ms = sum(cost.get(k, 0.0) for k in ("web", "workers", "postgres"))
        rows.append(("Scale-out, projection", f"turns/s ≈ N cores ÷ (web + workers + PostgreSQL CPU per turn = "
                     f"{_num(app_ms, 1)} ms, the {widest['workers']}-worker run), with at least N × "
                     f"{_num(cost['workers'] / app_ms, 2)} worker processes (one runs at most 1 core)",
                     "; ".join(f"{n} cores {_num(v)}" for n, v in widest["projected_turns_per_s"].items()),
                     "(reported)", INFO))
    previous = figures.get("previous_postgresql")
    if previous:
        rows.append(("Scale-out, before the engine (reference)", f"bench/results.json of {previous['commit']}: own CPU per "
                     "turn of web + the one worker, PostgreSQL not counted (overhead scenario)",
                     f"chat {_num(previous['chat_cpu_ms'], 2)} ms, one-tool {_num(previous['one_tool_cpu_ms'], 2)} ms: "
                     f"at most {_num(1000 / previous['chat_cpu_ms'])} turns/s for its one worker process",
                     "(reported)", INFO))
    return rows


def _host(summary: dict) -> str:
    """`, host loop N ms`: the host's speed while the set ran (bench.stats.loop_ms), when measured."""
    return f", host loop {_num(summary['host_loop_ms'])} ms" if summary.get("host_loop_ms") else ""


def _overhead_rows(figures: dict) -> list[tuple]:
    rows = []
    for run in figures.get("runs", []):
        for kind, label in (("chat", "chat turn"), ("one_tool", "one-tool turn"),
                            ("one_tool_idle", f"one-tool turn after {_num(run.get('idle_gap_ms', 0), 0)} ms idle")):
            if kind not in run:
                continue
            s = run[kind]
            result = (f"CPU {_num(s['cpu_median_ms'])} (p95 {_num(s['cpu_p95_ms'])}) ms · wall "
                      f"{_num(s['wall_median_ms'])} (p95 {_num(s['wall_p95_ms'])}) ms")
            gated = kind != "one_tool_idle"
            rows.append((f"Own overhead, {run['server']} ({run['database']})",
                         f"{label}, model at 0 s, {s['messages']} messages{_host(s)}", result,
                         "< 15 ms median" if gated else "(reported)",
                         _mark(s["cpu_median_ms"] < 15 and s["wall_median_ms"] < 15 and s["failed"] == 0)
                         if gated else INFO))
    for run in figures.get("long_history", []):
        bound = run["session_max_runs"]
        setting = "SESSION_MAX_RUNS=0 (every run kept)" if bound == 0 else f"SESSION_MAX_RUNS={bound} (default)"
        for kind, label in (("first", "each sender's first turn"), ("chat", "chat turns after it")):
            s = run[kind]
            rows.append((f"Own overhead, {run['server']} ({run['database']}), {run['history']:,} runs stored",
                         f"{label}, {setting}, {s['messages']} messages{_host(s)}",
                         f"CPU {_num(s['cpu_median_ms'])} (p95 {_num(s['cpu_p95_ms'])}) ms · wall "
                         f"{_num(s['wall_median_ms'])} (p95 {_num(s['wall_p95_ms'])}) ms", "(reported)", INFO))
    return rows


def _search_rows(figures: dict) -> list[tuple]:
    rows = []
    for run in figures.get("runs", []):
        gated = (run["database"] == "postgresql" and run["rows"] >= 1_000_000) or \
                (run["database"] == "sqlite" and run["rows"] >= 100_000)
        heavy = run["heavy_owner"]
        rows.append((f"Search, {run['database']}", f"{run['rows']:,} descriptions",
                     f"p50 {_num(run['p50_ms'], 2)} · p95 {_num(run['p95_ms'], 2)} ms (heavy user: p95 "
                     f"{_num(heavy['p95_ms'], 2)} ms)", "p95 < 20 ms" if gated else "(reported)",
                     _mark(run["p95_ms"] < 20 and heavy["p95_ms"] < 20) if gated else INFO))
    return rows


def flat_from(sizes: list[int], tolerance: float = 0.02) -> int | None:
    """The first turn from which every later prompt is within `tolerance` of the last; None if never."""
    if len(sizes) < 2:
        return None
    last = sizes[-1]
    start = len(sizes) - 1
    while start > 0 and abs(sizes[start - 1] - last) <= tolerance * last:
        start -= 1
    return start if start < len(sizes) - 1 else None


def _economy_rows(figures: dict) -> list[tuple]:
    types = figures.get("types", {})
    if not types:
        return []
    runs = figures["history_runs"]
    calls = {kind: sorted({t["model_calls"] for t in data["turns"]}) for kind, data in types.items()}
    expected = {kind: 1 if kind in ("chat", "voice_note") else 2 for kind in types}
    calls_ok = all(calls[k] == [expected[k]] for k in types)
    flat = {kind: flat_from([t["first_call_chars"] for t in data["turns"]]) for kind, data in types.items()}
    enough = len(next(iter(types.values()))["turns"]) > runs + 2
    return [
        ("Model economy", "model calls per turn (chat, voice: 1; one tool: 2)",
         "; ".join(f"{k} {'/'.join(map(str, v))}" for k, v in calls.items()), "chat 1, one-tool 2", _mark(calls_ok)),
        ("Model economy", f"prompt flat from turn N (HISTORY_RUNS={runs})",
         "; ".join(f"{k} {'never' if v is None else v}" for k, v in flat.items()), f"flat once history > {runs}",
         _mark(all(v is not None for v in flat.values())) if enough else INFO),
    ] + _vision_rows(figures.get("vision"))


def _vision_rows(vision: dict | None) -> list[tuple]:
    """Photo turns with VISION=on beside VISION=off: model calls, image parts, prompt tokens."""
    if not vision or "on" not in vision or "off" not in vision:
        return []
    cells = "; ".join(
        f"{kind} on {vision['on'][kind]['model_calls']} call(s), {vision['on'][kind]['image_parts']} image(s), "
        f"{vision['on'][kind]['prompt_tokens_median']:,} tok · off {vision['off'][kind]['model_calls']}, "
        f"{vision['off'][kind]['image_parts']}, {vision['off'][kind]['prompt_tokens_median']:,} tok"
        for kind in vision["on"])
    alone = vision["on"].get("photo_alone", {}).get("model_calls", 99)
    return [("Model economy", "photo turns, VISION=on vs off (calls, image parts, prompt tokens incl. 85 per "
             "low-detail image)", cells, "photo alone ≤ 1 call", _mark(alone <= 1))]


def summary_rows(results: dict) -> list[tuple]:
    """(scenario, conditions, result, target, met) rows for every scenario present."""
    scenarios = results.get("scenarios", {})
    rows: list[tuple] = []
    for name, builder in (("ack", _ack_rows), ("capacity", _capacity_rows), ("overhead", _overhead_rows),
                          ("search", _search_rows), ("economy", _economy_rows), ("scaleout", _scaleout_rows),
                          ("first_turn", _first_turn_rows)):
        figures = scenarios.get(name)
        if figures is None:
            continue
        if "error" in figures:
            rows.append((name, "failed to run", figures["error"], "", MISS))
        else:
            rows += builder(figures)
    return rows


def economy_table(figures: dict) -> str:
    """Per turn type: calls and first-call prompt size as history grows."""
    types = figures.get("types", {})
    if not types:
        return ""
    last = max(t["history_turns"] for d in types.values() for t in d["turns"])
    points = sorted({0, 1, figures["history_runs"], figures["history_runs"] + 1, min(10, last), last})
    head = "| turn type | model calls | " + " | ".join(f"prompt @ {p} turns" for p in points) + \
           " | per turn @ last | tool schemas |"
    lines = [head, "|" + "---|" * (points.__len__() + 4)]
    for kind, data in types.items():
        by = {t["history_turns"]: t for t in data["turns"]}
        cells = [f"{by[p]['first_call_chars']:,} ch / {by[p]['first_call_tokens']:,} tok" if p in by else "n/a"
                 for p in points]
        last = data["turns"][-1]
        lines.append(f"| {kind} | {'/'.join(str(c) for c in sorted({t['model_calls'] for t in data['turns']}))} | "
                     + " | ".join(cells) + f" | {last['turn_chars']:,} ch / {last['turn_tokens']:,} tok | "
                     f"{data['tool_schema_chars']:,} ch |")
    return "\n".join(lines) + f"\n\nTokens: {figures['token_method']}. 'prompt' is the first call of a turn."


def sweep_table(figures: dict) -> str:
    """The thread-count sweep behind the recommended settings."""
    runs = [figures[k] for k in ("rest", "twiml") if k in figures] + figures.get("sweep", [])
    if not runs:
        return ""
    lines = ["| mode | server | WORKER_THREADS | answered ≤ 15 s | run time | msg/s | lost | peak RSS |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['mode']} | {r['server']} | {r['worker_threads']} | "
                     f"{100 * r['answered_within_15s_share']:.1f}% | {_num(r['run_seconds'])} s | "
                     f"{_num(r['msgs_per_s'])} | {r['lost']} | {_num(r['peak_rss_mib'])} MiB |")
    return "\n".join(lines)


def _probe(probe: dict) -> str:
    neighbour = probe.get("busy_neighbour")
    return f"{_num(probe['loop_ms'])} ms" + (f" ×{neighbour:.2f}" if neighbour is not None else "")


def markdown_table(results: dict) -> str:
    """The summary table, then the details tables, as one markdown string."""
    lines = ["| scenario | conditions | result | target | met |", "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(str(cell) for cell in row)} |" for row in summary_rows(results)]
    scenarios = results.get("scenarios", {})
    m = results.get("machine", {})
    parts = ["\n".join(lines), f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
             f"Python {m.get('python')}, {m.get('os')}."]
    stolen = [f"{name} {100 * figures['steal_share']:.1f}%" for name, figures in scenarios.items()
              if figures.get("steal_share") is not None]
    if stolen:
        parts.append("CPU time the hypervisor took for other guests during each scenario (steal, /proc/stat): "
                     + ", ".join(stolen) + ".")
    probes = [f"{name} {_probe(figures['cpu_probe']['before'])} → {_probe(figures['cpu_probe']['after'])}"
              for name, figures in scenarios.items() if figures.get("cpu_probe")]
    if probes:
        parts.append("A fixed CPU-bound loop before → after each scenario: its CPU time on one vCPU with the other "
                     "idle, and × how much longer with the other vCPU busy (steal does not show a vCPU slowed by "
                     "a busy sibling on its physical core): " + ", ".join(probes) + ". \"host loop\" in a row's "
                     "conditions is the same loop timed between that set's messages (median).")
    if "capacity" in scenarios and "error" not in scenarios["capacity"]:
        parts.append(sweep_table(scenarios["capacity"]))
    if "economy" in scenarios and "error" not in scenarios["economy"]:
        parts.append(economy_table(scenarios["economy"]))
    return "\n\n".join(p for p in parts if p)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results.json"
    print(markdown_table(json.loads(path.read_text())))
