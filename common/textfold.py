"""Accent- and case-folding for search: "Coração" and "coracao" fold to the same text."""
from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """`text` in lowercase without diacritics (NFKD, combining marks dropped), for matching."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def fold_words(text: str) -> list[str]:
    """The folded, whitespace-separated words of `text` (empty list for blank text)."""
    return fold(text).split()
