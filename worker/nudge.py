"""A best-effort wake-up call from the web process to the worker process.

After writing a ledger row the webhook sends one datagram to `DATA_DIR/worker.sock` naming the row
(id, sender, whether it has media); the worker, blocked on that socket, wakes at once instead of
at its next poll, and when the row is simply the next one it takes it without reading the ledger.
Nothing here is needed for correctness: a lost nudge (no worker yet, a full buffer) only means the
row is found by the poll a fraction of a second later. This module is the only part of `worker/`
the web imports, and it imports nothing of ours.
"""
from __future__ import annotations

import os
import select
import socket
from dataclasses import dataclass
from pathlib import Path

SOCKET_NAME = "worker.sock"
MAX_DATAGRAM = 128


@dataclass(frozen=True)
class Nudge:
    """The ledger row a nudge announces (committed before the nudge was sent)."""

    entry_id: int
    sender: str
    has_media: bool

    def encode(self) -> bytes:
        """`<id> <sender> <0|1>`, a few dozen bytes."""
        return f"{self.entry_id} {self.sender} {int(self.has_media)}".encode()

    @classmethod
    def decode(cls, data: bytes) -> "Nudge | None":
        """The nudge in `data`, or None for anything else (a bare wake-up, a malformed datagram)."""
        parts = data.decode("ascii", "replace").split(" ")
        if len(parts) != 3 or not parts[0].isdigit() or parts[2] not in ("0", "1") or not parts[1]:
            return None
        return cls(int(parts[0]), parts[1], parts[2] == "1")


def socket_path(data_dir: Path) -> Path:
    """Where the worker listens for nudges: inside DATA_DIR, which web and worker share."""
    return data_dir / SOCKET_NAME


class Nudger:
    """The web's side: `send()` never blocks and never raises."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def send(self, nudge: Nudge | None = None) -> None:
        """Tell the worker there is a new ledger row (`nudge` names it); silently does nothing when
        nobody listens."""
        try:
            self._sock.sendto(nudge.encode() if nudge else b"!", self.path)
        except OSError:
            pass  # no worker (ENOENT, ECONNREFUSED) or its buffer is full (EAGAIN): the poll covers it

    def close(self) -> None:
        """Release the socket."""
        self._sock.close()


class NudgeListener:
    """The worker's side: binds the socket and waits for nudges, or for a timeout."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        try:
            path.unlink(missing_ok=True)  # a socket file left by a worker that died
            self._sock.bind(str(path))
            self._inode = os.stat(path).st_ino
        except OSError:
            self._sock.close()
            raise

    def wait(self, timeout: float) -> list[Nudge] | None:
        """Block until a nudge arrives or `timeout` seconds pass; None on timeout, else the rows the
        pending nudges named (empty for bare wake-ups). Every pending nudge is consumed, so a burst
        of webhooks costs the worker one wake-up."""
        readable, _, _ = select.select([self._sock], [], [], timeout)
        if not readable:
            return None
        nudges = []
        while True:
            try:
                data = self._sock.recv(MAX_DATAGRAM)
            except OSError:  # BlockingIOError: drained
                return nudges
            if (nudge := Nudge.decode(data)) is not None:
                nudges.append(nudge)

    def close(self) -> None:
        """Stop listening and remove the socket file (only if it is still ours)."""
        try:
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        except OSError:
            pass
        self._sock.close()
