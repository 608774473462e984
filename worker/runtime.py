"""The assistant of one process: services, agent, turn processor and dispatcher, wired once."""
from __future__ import annotations

import logging
import threading
from collections import defaultdict

from agent.runtime import Assistant
from channels.chunking import split_message
from channels.twilio_inbound import twiml
from storage import ledger

from .after_send import FILE_NAME as JOURNAL_FILE, AfterSendJournal
from .dispatcher import Dispatcher
from .turns import APOLOGY, TurnProcessor

log = logging.getLogger(__name__)


class AssistantRuntime:
    """Owns the worker pool. In WORKER_MODE=thread the webhook calls `dispatcher.enqueue` (or
    `answer_inline` in twiml mode); in WORKER_MODE=process `python -m worker` feeds it from the ledger."""

    def __init__(self, services) -> None:
        self.services = services
        config = services.config
        self.assistant = Assistant(services)
        self.journal = AfterSendJournal(config.data_dir / JOURNAL_FILE, services.db, services.chatlog)
        self.processor = TurnProcessor(services, self.assistant, self.journal)
        self.dispatcher = Dispatcher(services.db, self.processor.process, self.processor.give_up,
                                     threads=config.worker_threads, burst_window=config.burst_window_seconds,
                                     max_attempts=config.max_attempts, gate=services.gate, journal=self.journal)
        self._inline_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    def start(self) -> None:
        """Start taking work, beginning with what a crash left in the ledger."""
        self.assistant.warm_up()
        self.dispatcher.recover()

    def answer_inline(self, entry_id: int, sender: str) -> str:
        """REPLY_MODE=twiml: answer inside the webhook response, one turn per sender at a time."""
        with self._inline_locks[sender]:
            entries = ledger.claim(self.services.db, [entry_id])
            if not entries:
                return twiml()
            try:
                reply = self.processor.answer(entries)
            except Exception as exc:
                log.exception("inline turn failed")
                ledger.mark_failed(self.services.db, [entry_id], f"{type(exc).__name__}: {exc}"[:500])
                return twiml([APOLOGY])
            self.services.chatlog.append_many(self.processor.inbound_lines(entries, reply)
                                              + self.processor.outbound_lines(sender, reply))
            ledger.mark_done(self.services.db, [entry_id], "answered inline (twiml)")
            return twiml([chunk for text in reply.texts for chunk in split_message(text)], reply.images)

    def stop(self) -> None:
        """Stop the worker pool; unfinished rows stay queued in the ledger."""
        self.dispatcher.stop()
        self.services.close()
