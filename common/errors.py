"""One line about a failure that is safe to store and log: SQLAlchemy's own text of an error carries
the statement and its parameters (a message body, a password hash), the driver's first line does not."""
from __future__ import annotations


def short_reason(exc: BaseException, limit: int = 200) -> str:
    """`<ExceptionType>: <the driver's message, first line>`, at most `limit` characters of message."""
    detail = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0][:limit]
    return f"{type(exc).__name__}: {detail}"
