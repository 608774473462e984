"""`python -m bench [--quick] [--only NAME ...]`: run the scenarios, write bench/results.json, print a table.

Starts the fake model and Twilio servers in their own process, then for each scenario the app the
way an operator does (`python app.py`, gunicorn), drives it over loopback and records the figures.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
from tqdm import tqdm

from .common import Run, scratch_dir
from .fakes import FakesProcess
from .report import markdown_table
from .stats import cpu_probe, cpu_ticks, steal_share

SCENARIOS = ("ack", "capacity", "overhead", "search", "economy", "scaleout")
RESULTS = Path(__file__).resolve().parent / "results.json"


def machine() -> dict:
    """Where the figures were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "os": f"{platform.system()} {platform.release()}"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with small counts")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, metavar="NAME",
                        help=f"run only these scenarios ({', '.join(SCENARIOS)})")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record the app's GIL-holding stacks with py-spy into DIR (collapsed format)")
    parser.add_argument("--rounds", type=int, metavar="N",
                        help="interleaved rounds of the scale-out scenario (default 3; the host's speed swings)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (app logs, data)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios; results of scenarios not run are kept from the previous file."""
    args = parse_args(argv)
    names = args.only or list(SCENARIOS)
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results = {"machine": machine(), "quick": args.quick, "scenarios": dict(previous.get("scenarios", {}))}
    overall = tqdm(names, desc="bench", unit="scenario", position=0)

    def progress(label: str, total: int) -> tqdm:
        return tqdm(total=total, desc=f"  {label}", unit="msg", position=1, leave=False)

    with scratch_dir(args.keep) as workdir, FakesProcess() as fakes:
        if args.keep:
            tqdm.write(f"scratch folder: {workdir}")
        for name in overall:
            overall.set_postfix_str(name)
            module = importlib.import_module(f"bench.scenarios.{name}")
            probe_before = cpu_probe()
            started, ticks = time.monotonic(), cpu_ticks()
            try:
                options = {"profile": args.profile, "rounds": args.rounds}
                figures = module.run(Run(args.quick, workdir, fakes, progress, options))
            except Exception as exc:
                tqdm.write(f"{name} failed: {type(exc).__name__}: {exc}")
                figures = {"error": f"{type(exc).__name__}: {exc}"}
            figures["elapsed_s"] = round(time.monotonic() - started, 1)
            figures["steal_share"] = steal_share(ticks, cpu_ticks())
            figures["cpu_probe"] = {"before": probe_before, "after": cpu_probe()}
            figures["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            figures["quick"] = args.quick
            results["scenarios"][name] = figures
            args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(markdown_table(results))
    return 1 if any("error" in results["scenarios"].get(n, {}) for n in names) else 0


if __name__ == "__main__":
    sys.exit(main())
