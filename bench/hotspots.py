"""`python -m bench.hotspots FILE [N] [FILTER]`: read py-spy's collapsed stacks (`--profile`) as tables.

Prints the functions holding the GIL most often, inclusive (anywhere on the stack) and self (at the
top), as shares of all samples. FILTER keeps only stacks containing that text.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def load(path: Path, keep: str = "") -> list[tuple[list[str], int]]:
    """(frames root-first, sample count) for each stack line of a collapsed-stack file."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit() and keep in stack:
            stacks.append((stack.split(";"), int(count)))
    return stacks


def frame_name(frame: str) -> str:
    """`func (path/to/file.py:12)` -> `func (file.py)`: one row per function, not per line."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1].split(':')[0]})" if where else name


def tables(stacks: list[tuple[list[str], int]], top: int = 25) -> str:
    """The inclusive and self tables as text."""
    total = sum(count for _, count in stacks) or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        names = [frame_name(f) for f in frames]
        for name in set(names):
            inclusive[name] += count
        if names:
            own[names[-1]] += count
    lines = [f"{total} samples"]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        lines.append(f"\n{title}:")
        lines += [f"{100 * n / total:6.1f}%  {name}" for name, n in counter.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    file = Path(sys.argv[1])
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    print(tables(load(file, sys.argv[3] if len(sys.argv) > 3 else ""), limit))
