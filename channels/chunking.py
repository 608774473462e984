"""Split long replies for WhatsApp: at most 1,600 characters a message, cut at natural boundaries."""
from __future__ import annotations

import re

LIMIT = 1600
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def _words(sentence: str, limit: int) -> list[str]:
    """A sentence longer than `limit` as runs of whole words (a giant word is cut hard)."""
    runs: list[str] = []
    current = ""
    for word in sentence.split(" "):
        while len(word) > limit:
            if current:
                runs.append(current)
                current = ""
            runs.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
        else:
            runs.append(current)
            current = word
    if current:
        runs.append(current)
    return runs


def _pieces(text: str, limit: int) -> list[tuple[str, str]]:
    """(separator before, piece) pairs, each piece at most `limit` long: lines, sentences, words."""
    pieces: list[tuple[str, str]] = []
    for line in text.split("\n"):
        separator = "\n"
        parts = [line] if len(line) <= limit else _SENTENCE_END.split(line)
        for part in parts:
            for run in ([part] if len(part) <= limit else _words(part, limit)):
                pieces.append((separator, run))
                separator = " "
    return pieces


def split_message(text: str, limit: int = LIMIT) -> list[str]:
    """Chunks of at most `limit` characters, in order, preferring line then sentence boundaries."""
    text = (text or "").strip()
    if len(text) <= limit:
        return [text] if text else []
    chunks: list[str] = []
    current = ""
    for separator, piece in _pieces(text, limit):
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            chunks.append(current.strip())
        current = piece
    if current.strip():
        chunks.append(current.strip())
    return chunks
