"""CPU per turn of each tier (web, workers, PostgreSQL, load generator, fakes) and what it projects.

The app's own tiers are read by `AppProcess.tier_cpu_meter`. PostgreSQL's share is read over the
server's processes with psutil: the `postgres` processes owned by the postgres user, minus the
backends of other databases (someone else's tests on the same server must not count), plus what
backends that exited during the window used (the postmaster's reaped-children time). The load
generator is the bench's sending thread; the fakes (model and Twilio servers) stand in for
OpenAI and Twilio, whose CPU a deployment does not pay.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import psutil

APP_TIERS = ("web", "workers", "postgres")


def busy_ticks(stat_text: str | None = None) -> int:
    """Clock ticks all CPUs were busy so far (/proc/stat: everything but idle and iowait; guest
    time is inside user); 0 where there is no /proc/stat."""
    if stat_text is None:
        try:
            with open("/proc/stat") as stat:
                stat_text = stat.read()
        except OSError:
            return 0
    fields = [int(value) for value in stat_text.split("\n", 1)[0].split()[1:9]]
    return sum(fields) - fields[3] - fields[4]


@dataclass(frozen=True)
class PgSnapshot:
    """CPU seconds of each counted postgres process, and the postmaster's reaped-children time."""

    by_pid: dict[int, float]
    reaped: float


def _database_of(cmdline: list[str]) -> str | None:
    """The database a backend serves, from its title `postgres: [cluster: ]user db host(port) state`;
    None for the server's own processes (checkpointer, walwriter, autovacuum launcher, ...)."""
    title = " ".join(cmdline)
    if not title.startswith("postgres: "):
        return None
    words = title[len("postgres: "):].split()
    if words and words[0].endswith(":"):  # cluster_name, e.g. "15/main:"
        words = words[1:]
    if len(words) >= 3 and ("(" in words[2] or words[2] == "[local]"):
        return words[1]
    return None


def counted(cmdline: list[str], database: str | None) -> bool:
    """Whether a postgres process counts for `database`: the server's own processes always, a
    backend only when it serves `database` (every backend when `database` is None)."""
    served = _database_of(cmdline)
    return served is None or database is None or served == database


def pg_snapshot(database: str | None = None) -> PgSnapshot:
    """Read the CPU of the local PostgreSQL server's processes now."""
    by_pid: dict[int, float] = {}
    reaped = 0.0
    for process in psutil.process_iter(["name", "username", "cmdline", "ppid"]):
        info = process.info
        if info["name"] != "postgres" or info["username"] != "postgres":
            continue
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        try:
            parent_is_postgres = psutil.Process(info["ppid"]).name() == "postgres"
        except psutil.Error:
            parent_is_postgres = False
        if not parent_is_postgres:  # the postmaster: its children that exited are in its children_* times
            reaped += times.children_user + times.children_system
        if counted(info["cmdline"] or [], database):
            by_pid[process.pid] = times.user + times.system
    return PgSnapshot(by_pid, reaped)


def pg_cpu_between(before: PgSnapshot, after: PgSnapshot) -> float:
    """CPU seconds the counted postgres processes used between two snapshots: those alive at the end
    (less what they had used before), plus those that exited meanwhile (their whole time is in the
    postmaster's reaped time, less what they had used before)."""
    alive = sum(seconds - before.by_pid.get(pid, 0.0) for pid, seconds in after.by_pid.items())
    gone = sum(seconds for pid, seconds in before.by_pid.items() if pid not in after.by_pid)
    return max(0.0, alive + max(0.0, after.reaped - before.reaped - gone))


def per_turn_ms(cpu_seconds: dict[str, float], turns: int) -> dict[str, float]:
    """CPU milliseconds per turn of each tier, and `app` (web + workers + postgres) and `all`."""
    if turns <= 0:
        return {tier: math.nan for tier in cpu_seconds}
    found = {tier: round(seconds * 1000 / turns, 2) for tier, seconds in cpu_seconds.items()}
    found["app"] = round(sum(cpu_seconds.get(tier, 0.0) for tier in APP_TIERS) * 1000 / turns, 2)
    found["all"] = round(sum(cpu_seconds.values()) * 1000 / turns, 2)
    return found


def projected_turns_per_s(per_turn: dict[str, float], cores: float, workers: int | None = None) -> float:
    """Turns per second on `cores` cores given to the app (web, workers and PostgreSQL on them, no
    load generator), CPU-bound: cores / (web + workers + postgres CPU per turn), and with `workers`
    processes no more than workers / (workers' CPU per turn), since one process runs its Python on
    at most one core at a time (the GIL)."""
    app_ms = sum(per_turn.get(tier, 0.0) for tier in APP_TIERS)
    if app_ms <= 0:
        return math.nan
    found = cores * 1000 / app_ms
    if workers is not None and per_turn.get("workers", 0.0) > 0:
        found = min(found, workers * 1000 / per_turn["workers"])
    return round(found, 1)


def saturation_turns_per_s(per_turn: dict[str, float], cores: float) -> float:
    """What `cores` fully busy would give at the measured CPU per turn of everything on the machine
    (the load generator and the fakes included): the measured rate near this means the machine's
    CPUs are the limit, well below it means something else is (waits, locks, the engine's polling)."""
    total = per_turn.get("all", 0.0)
    return round(cores * 1000 / total, 1) if total > 0 else math.nan
