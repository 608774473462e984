"""Small line files that must survive a crash of the machine, not only of the process (the inbound
spool, the after-send journal): every change is synced, and so is the folder when a name changes."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def sync_folder(folder: Path) -> None:
    """Sync a folder, so a file created, renamed or removed in it stays so after a power loss."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`'s lock file (`<name>.lock` beside it) for the block: the web
    processes and the worker may read and rewrite the same file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def has_lines(path: Path) -> bool:
    """Whether `path` holds anything (one stat, cheap enough for every request)."""
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def append_line(path: Path, line: str) -> None:
    """Append `line` (and a newline) to `path`, on disk before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with open(path, "a", encoding="utf-8") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())
    if created:
        sync_folder(path.parent)


def rewrite_lines(path: Path, lines: list[str]) -> None:
    """Replace the content of `path` by `lines` at once (a copy renamed over it); no lines removes it."""
    if not lines:
        if path.exists():
            path.unlink()
            sync_folder(path.parent)
        return
    scratch = path.with_suffix(".tmp")
    with open(scratch, "w", encoding="utf-8") as file:
        file.write("".join(line + "\n" for line in lines))
        file.flush()
        os.fsync(file.fileno())
    os.replace(scratch, path)
    sync_folder(path.parent)
