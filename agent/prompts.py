"""The agent's instructions and fixed texts, read from `prompts/` (Portuguese text files)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@lru_cache(maxsize=None)
def load_prompt(name: str) -> str:
    """The text of `prompts/<name>.md`, stripped."""
    return (PROMPTS_DIR / f"{name}.md").read_text(encoding="utf-8").strip()
