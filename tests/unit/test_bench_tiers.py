"""bench.tiers and bench.appproc's per-process helpers: CPU per tier, the projection, peak RSS."""
import math

import pytest

from bench.appproc import engine_workers, libpq_dsn, mib, update_peaks
from bench.scenarios.scaleout import _window_rate
from bench.tiers import (PgSnapshot, counted, per_turn_ms, pg_cpu_between, projected_turns_per_s,
                         saturation_turns_per_s)


def test_a_backend_counts_only_for_its_own_database_and_the_servers_processes_always():
    backend = ["postgres: 15/main: postgres bench_scaleout_1_ab 127.0.0.1(40312) idle"]
    assert counted(backend, "bench_scaleout_1_ab")
    assert not counted(backend, "someone_elses_tests")
    assert counted(["postgres: 15/main: walwriter "], "bench_scaleout_1_ab")
    assert counted(["postgres: checkpointer"], "x")
    assert counted(["postgres: postgres other [local] idle"], None)
    assert not counted(["postgres: postgres other [local] idle"], "mine")


def test_postgres_cpu_counts_the_living_and_the_backends_that_exited_in_the_window():
    before = PgSnapshot({1: 10.0, 2: 5.0, 3: 1.0}, reaped=100.0)
    # 1 used 2 s more, 2 exited having used 5.5 s in all (0.5 s in the window), 4 was born and used 1 s
    after = PgSnapshot({1: 12.0, 3: 1.0, 4: 1.0}, reaped=105.5)
    assert pg_cpu_between(before, after) == pytest.approx(2.0 + 0.5 + 1.0)


def test_cpu_per_turn_sums_the_apps_tiers_apart_from_the_load_generator():
    per_turn = per_turn_ms({"web": 0.2, "workers": 1.2, "postgres": 0.6, "load": 0.1, "fakes": 0.1}, 100)
    assert per_turn["workers"] == 12.0 and per_turn["app"] == 20.0 and per_turn["all"] == 22.0
    assert math.isnan(per_turn_ms({"web": 1.0}, 0)["web"])


def test_the_projection_divides_the_cores_by_the_apps_cpu_per_turn_and_caps_it_by_the_worker_processes():
    per_turn = {"web": 2.0, "workers": 12.0, "postgres": 6.0, "load": 0.5}
    assert projected_turns_per_s(per_turn, 2) == 100.0  # 2 cores / 20 ms
    assert projected_turns_per_s(per_turn, 8) == 400.0
    assert projected_turns_per_s(per_turn, 8, workers=2) == pytest.approx(166.7)  # 2 processes / 12 ms
    assert saturation_turns_per_s({"all": 25.0}, 2) == 80.0


def test_peak_rss_per_process_keeps_the_highest_reading_and_survives_a_process_that_is_gone():
    readings = {10: [100, 300, 200], 11: [50, 40, None]}

    def read(pid):
        value = readings[pid].pop(0)
        if value is None:
            raise OSError("gone")
        return value

    peaks: dict[str, int] = {}
    for _ in range(3):
        update_peaks(peaks, {"web-1": 10, "worker-1": 11}, read)
    assert peaks == {"web-1": 300, "worker-1": 50}
    assert mib({"w": 3 * 2**20 + 2**19}) == {"w": 3.5}


def test_engine_workers_run_only_on_postgresql_in_process_mode():
    assert engine_workers({"DATABASE_URL": "postgresql+psycopg2://u@h/db"})
    assert not engine_workers({"DATABASE_URL": "sqlite:////tmp/app.db"})
    assert not engine_workers({"DATABASE_URL": "postgresql://u@h/db", "WORKER_MODE": "thread"})
    assert libpq_dsn("postgresql+psycopg2://postgres@127.0.0.1:5432/x") == "postgresql://postgres@127.0.0.1:5432/x"


def test_the_steady_rate_reads_the_middle_of_the_replies():
    arrivals = [i * 0.01 for i in range(100)]  # 100 replies/s throughout
    assert _window_rate(arrivals) == pytest.approx(100.0, rel=0.02)
    assert math.isnan(_window_rate([0.0, 1.0]))


def test_busy_ticks_leave_out_idle_and_iowait():
    from bench.tiers import busy_ticks

    assert busy_ticks("cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 1 2 3\n") == 100 + 5 + 50 + 3 + 2 + 7


def test_the_median_run_and_the_ratios_of_the_scaleout():
    from bench.scenarios.scaleout import median_run, ratio

    runs = [{"turns_per_s": 50.0, "n": 1}, {"turns_per_s": 40.0, "n": 2}, {"turns_per_s": 60.0, "n": 3}]
    assert median_run(runs)["n"] == 1
    assert median_run(runs[:2])["n"] == 2  # the lower middle of an even count
    by_label = {"postgresql-1w": {"turns_per_s": 40.0}, "postgresql-2w": {"turns_per_s": 58.0}}
    assert ratio(by_label, "postgresql-2w", "postgresql-1w") == 1.45
    assert math.isnan(ratio(by_label, "postgresql-4w", "postgresql-1w"))
