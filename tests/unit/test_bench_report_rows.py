"""bench.report's rows for the scale-out and the first-turn figures, and where bench.first_turn keeps them."""
import json

from bench.report import summary_rows


def _scaleout(two: float) -> dict:
    def run(label, database, workers, rate):
        return {"label": label, "database": database, "workers": workers, "senders": 10, "messages": 30,
                "worker_threads": 8, "turns_per_s": rate, "out_of_order": 0, "lost": 0, "cpu_cores_used": 1.5,
                "other_cores": 0.0, "cpu_ms_per_turn": {"web": 2.0, "workers": 12.0, "postgres": 6.0, "load": 0.4},
                "peak_rss_by_process_mib": {"web-1": 150.0, "worker-1": 170.0},
                "projected_turns_per_s": {"2": 100.0, "4": 200.0}}

    medians = {"sqlite-app.py": run("sqlite-app.py", "sqlite", 1, 90.0), "postgresql-1w": run("postgresql-1w", "postgresql", 1, 50.0),
               "postgresql-2w": run("postgresql-2w", "postgresql", 2, 50.0 * two)}
    return {"median": medians, "rounds": 1, "turns_per_s_by_round": {k: [v["turns_per_s"]] for k, v in medians.items()},
            "ratio_2_to_1": two, "ratio_4_to_1": None, "ratio_2_to_1_by_round": [two],
            "previous_postgresql": {"commit": "abc", "chat_cpu_ms": 10.0, "one_tool_cpu_ms": 12.0}}


def test_the_scaleout_rows_gate_the_ratio_of_two_workers_to_one():
    rows = summary_rows({"scenarios": {"scaleout": _scaleout(1.5)}})
    ratio = next(r for r in rows if r[0].startswith("Scale-out, 2 ÷ 1"))
    assert ratio[2].startswith("1.50×") and ratio[4] == "✅"
    miss = next(r for r in summary_rows({"scenarios": {"scaleout": _scaleout(1.2)}}) if r[0].startswith("Scale-out, 2 ÷ 1"))
    assert miss[4] == "❌"
    projection = next(r for r in rows if r[0] == "Scale-out, projection")
    assert "20.0 ms" in projection[1] and "2 cores 100.0" in projection[2]
    one = next(r for r in rows if r[0].endswith("1 worker process"))
    assert "PostgreSQL 6.00" in one[2] and "worker-1 170.0" in one[2]


def test_first_turn_figures_are_kept_beside_the_other_scenarios_and_gated_under_twice_a_later_turn(tmp_path):
    from bench.first_turn import keep

    path = tmp_path / "results.json"
    path.write_text(json.dumps({"machine": {}, "scenarios": {"ack": {"runs": []}}}))
    run = {"store": "sqlite", "history": 1000, "bounded": {"first_ms": 6.0, "later_ms": 5.0, "ratio": 1.2},
           "whole": {"first_ms": 70.0, "later_ms": 10.0, "ratio": 7.0}}
    keep(path, {"runs": [run], "senders": 7, "later_turns_each": 3})
    kept = json.loads(path.read_text())
    assert set(kept["scenarios"]) == {"ack", "first_turn"}
    (row,) = [r for r in summary_rows(kept) if r[0].startswith("First turn")]
    assert "1.20×" in row[2] and "7.00×" in row[2] and row[4] == "✅"
