"""What every entry point (the web's `python app.py`, `python -m worker`) does once at start."""
from __future__ import annotations

import gc
import logging

# The openai SDK sends through httpx2/httpcore2 (forks of httpx/httpcore, with loggers of their own).
NOISY_LOGGERS = ("twilio.http_client", "httpx", "httpx2", "httpcore", "httpcore2", "openai", "botocore", "urllib3",
                 "procrastinate")


def configure_logging(level: str) -> None:
    """Plain logs on stderr; libraries that would log message bodies (or every job) at INFO are kept quieter."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def settle_heap() -> None:
    """Collect once, then freeze what start-up built (modules, app, clients) out of the garbage
    collector's reach: the first full collection after start walked all of it and held the first
    webhook about 0.1 s."""
    gc.collect()
    gc.freeze()
