"""A tool's failure becomes an "Erro: ..." result for the model, never a crashed agent loop."""
from __future__ import annotations

import functools
import logging
from typing import Callable, TypeVar

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., str])


class ToolRefusal(Exception):
    """An expected refusal with a message meant for the user (not logged as an error)."""


def tool_errors(func: F) -> F:
    """Wrap a tool so refusals and unexpected exceptions come back as text the model can relay."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> str:
        try:
            return func(*args, **kwargs)
        except ToolRefusal as refusal:
            return str(refusal)
        except Exception as exc:
            log.exception("tool %s failed", func.__name__)
            return f"Erro: a ferramenta {func.__name__} falhou ({type(exc).__name__}). Peça desculpas ao usuário."
    return wrapper  # type: ignore[return-value]
