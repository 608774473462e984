"""The agent's tools: plain typed functions whose docstrings are the model-facing descriptions.

Each takes agno's injected `run_context` for the trusted sender and never accepts a phone number
from the model. Modules register their tools in TOOLS lists collected here.
"""
from __future__ import annotations

import importlib
from typing import Callable

TOOL_MODULES = ("tools.accounts", "tools.images", "tools.audio", "tools.todos", "tools.history")


def all_tools() -> list[Callable]:
    """Every tool of every tool module present, in a stable order."""
    found: list[Callable] = []
    for name in TOOL_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.extend(getattr(module, "TOOLS", []))
    return found
