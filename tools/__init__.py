"""The agent's tools: plain typed functions whose docstrings are the model-facing descriptions.

Each takes agno's injected `run_context` for the trusted sender and never accepts a phone number
from the model. Each module lists its tools in `TOOLS` and, for command mode (no model), its plain
commands in `COMMANDS` as (regex, handler(ctx, match) -> str | None) pairs; None passes the turn on.
"""
from __future__ import annotations

import importlib
import re
from types import ModuleType
from typing import Any, Callable

# Order matters for command mode: the first matching command that answers wins, and the images
# module ends with a catch-all (a photo's caption, or the description of a waiting photo).
TOOL_MODULES = ("tools.optout", "tools.reminders", "tools.accounts", "tools.todos", "tools.history",
                "tools.privacy", "tools.audio", "tools.images")

CommandHandler = Callable[[Any, re.Match], "str | None"]


def _modules() -> list[ModuleType]:
    found = []
    for name in TOOL_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def all_tools() -> list[Callable]:
    """Every tool of every tool module present, in a stable order."""
    return [tool for module in _modules() for tool in getattr(module, "TOOLS", [])]


def all_commands() -> list[tuple[re.Pattern, CommandHandler]]:
    """Every plain command of every tool module, compiled case-insensitively, in module order."""
    return [(re.compile(pattern, re.I | re.S), handler)
            for module in _modules() for pattern, handler in getattr(module, "COMMANDS", [])]
