"""A tool's failure becomes an "Erro: ..." result for the model, never a crashed agent loop."""
from __future__ import annotations

import functools
import logging
from typing import Callable, TypeVar

from agent.context import find_turn_context

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., str])


class ToolRefusal(Exception):
    """An expected refusal with a message meant for the user (not logged as an error)."""


def tool_errors(func: F) -> F:
    """Wrap a tool so refusals and unexpected exceptions come back as text the model can relay. What
    a call answered (a refusal included, a crash not) is kept on the turn's context, so a model that
    fails after its tools ran can still tell the user what was done (agent/runtime.py)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> str:
        try:
            result = func(*args, **kwargs)
        except ToolRefusal as refusal:
            result = str(refusal)
        except Exception as exc:
            log.exception("tool %s failed", func.__name__)
            return f"Erro: a ferramenta {func.__name__} falhou ({type(exc).__name__}). Peça desculpas ao usuário."
        ctx = find_turn_context(kwargs.get("run_context"))
        if ctx is not None and result:
            ctx.tool_results.append(result)
        return result
    return wrapper  # type: ignore[return-value]
