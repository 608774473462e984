"""The assistant of one process: services, agent, turn processor and dispatcher, wired once."""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict

from agent.runtime import Assistant
from channels.chunking import split_message
from channels.twilio_inbound import twiml
from common.errors import short_reason
from storage import ledger
from storage.spool import InboundSpool, SpooledMessage

from .after_send import FILE_NAME as JOURNAL_FILE, AfterSendJournal
from .attempts import TurnRunner
from .dispatcher import Dispatcher
from .sender_turns import SenderTurns
from .turns import APOLOGY, TurnProcessor

log = logging.getLogger(__name__)
RESENT_REASON = "arrived while the database was down; the sender was asked to send it again (REPLY_MODE=twiml)"
CANNOT_ANSWER_LATER = ("interrupted by a restart before its reply left (REPLY_MODE=twiml); without the "
                       "Messages API (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_NUMBER) it "
                       "cannot be answered later")
SPOOL_CHECK_SECONDS = 1.0  # how often the worker side looks for messages the webhook spooled
# How often the runtime pays, on its own, what sent turns owe the stores (one stat when nothing is
# owed): a sender who never writes again must not leave their row `processing` until a restart.
JOURNAL_RETRY_SECONDS = 5.0


class AssistantRuntime:
    """Owns the turn machinery of one process. In WORKER_MODE=thread the webhook calls
    `dispatcher.enqueue` (or `answer_inline` in twiml mode); in WORKER_MODE=process on SQLite
    `python -m worker` feeds the dispatcher from the ledger; on PostgreSQL the engine's jobs call
    `sender_turns.answer(sender)` (worker/engine.py). All of them run a turn through one TurnRunner."""

    def __init__(self, services) -> None:
        self.services = services
        config = services.config
        self.assistant = Assistant(services)
        self.journal = AfterSendJournal(config.data_dir / JOURNAL_FILE, services.db, services.chatlog)
        self.processor = TurnProcessor(services, self.assistant, self.journal)
        self.dispatcher = Dispatcher(services.db, self.processor.process, self.processor.give_up,
                                     threads=config.worker_threads, burst_window=config.burst_window_seconds,
                                     max_attempts=config.max_attempts, gate=services.gate, journal=self.journal)
        self.engine_jobs = config.turn_engine == "procrastinate"
        self._stopped = threading.Event()
        runner = TurnRunner(services.db, self.processor.process, self.processor.give_up, services.gate,
                            config.max_attempts, journal=self.journal, stopped=self._stopped.is_set)
        self.sender_turns = SenderTurns(services.db, runner, services.gate, config.burst_window_seconds,
                                        self.journal, stopping=self._stopped.is_set)
        self._inline_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self.spool = InboundSpool(config.data_dir)
        self._next_payment = time.monotonic() + JOURNAL_RETRY_SECONDS

    def start(self) -> None:
        """Start taking work, beginning with what a crash left in the ledger; then keep moving what
        the webhook spooled while the database was down into the ledger, and paying what sent turns
        owe the stores (WORKER_MODE=thread, REPLY_MODE=twiml; `python -m worker` runs the same chores)."""
        self.assistant.warm_up()
        self.drain_spool()
        self.dispatcher.recover(fail_with=self._unanswerable_leftovers())
        threading.Thread(target=self._chores_loop, name="runtime-chores", daemon=True).start()

    def _unanswerable_leftovers(self) -> str | None:
        """Why a crash's leftovers cannot be answered here, if they cannot: in twiml mode their
        webhooks are gone, and only the Messages API could still reach the sender."""
        if self.services.config.reply_mode == "twiml" and not self.services.sender.can_deliver:
            return CANNOT_ANSWER_LATER
        return None

    def drain_spool(self) -> int:
        """Move the messages the webhook kept in the spool into the ledger, in order and with their
        arrival time, and queue them; the rest waits while the database still refuses. Never raises."""
        if not self.spool.pending():
            return 0

        def move(message: SpooledMessage) -> None:
            entry_id = ledger.add_to_ledger(self.services.db, message.message_sid, message.sender, message.body,
                                            message.media, message.profile_name, message.arrived,
                                            failed=RESENT_REASON if message.asked_to_resend else None,
                                            with_job=self.engine_jobs)
            if entry_id is not None and not message.asked_to_resend and not self.engine_jobs:
                self.dispatcher.enqueue(entry_id, message.sender, bool(message.media))

        return self.spool.drain(move)

    def pay_owed(self) -> int:
        """Pay what sent turns owe the chat log and the ledger, at most every JOURNAL_RETRY_SECONDS
        (turns that record pay it too, at once); returns how many were paid. Never raises."""
        if time.monotonic() < self._next_payment:
            return 0
        self._next_payment = time.monotonic() + JOURNAL_RETRY_SECONDS
        return self.journal.settle()  # one stat when nothing is owed

    def keep_up(self) -> None:
        """The runtime's chores between turns, every SPOOL_CHECK_SECONDS: the spool, the journal, the
        sent parts' receipts, and (without the engine) the reminders due."""
        self.drain_spool()
        self.pay_owed()
        self.processor.receipts.flush()
        if not self.engine_jobs:  # on PostgreSQL's engine the fire_reminders job does it, once cluster-wide
            self.fire_reminders()

    def fire_reminders(self, budget: int | None = None) -> int:
        """Send the reminders due now, at most `budget` (one second's worth of TWILIO_SEND_RATE by
        default); returns how many were handled. Never raises."""
        from .reminders import fire_due

        try:
            return fire_due(self.services, budget=budget).total
        except Exception:
            log.warning("could not fire the due reminders; trying again in a moment", exc_info=True)
            return 0

    def start_chores(self) -> None:
        """Only the chores (the spool, the journal), on a thread: the web process of the PostgreSQL
        engine, whose turns run on the workers, still owns the spool and journal of its own folder."""
        threading.Thread(target=self._chores_loop, name="runtime-chores", daemon=True).start()

    def _chores_loop(self) -> None:
        while not self._stopped.wait(SPOOL_CHECK_SECONDS):
            self.keep_up()

    def answer_inline(self, entry_id: int, sender: str) -> str:
        """REPLY_MODE=twiml: answer inside the webhook response, one turn per sender at a time. Any
        failure before the reply (the claim included) answers with the apology and marks the row
        failed; a store that fails once the reply is made does not cost the reply: the bookkeeping
        is owed instead. Never a 500: Twilio would not retry, and the user would hear nothing."""
        with self._inline_locks[sender]:
            try:
                entries = ledger.claim(self.services.db, [entry_id])
                if not entries:
                    return twiml()
                reply = self.processor.answer(entries, pauses=())
            except Exception as exc:
                log.exception("inline turn failed")
                self.processor.fail_inline([entry_id], short_reason(exc, 500))
                return twiml([APOLOGY])
            if self.processor.record_inline(entries, reply):
                self.journal.settle()  # the stores answered: pay what earlier turns owe (one stat if nothing)
            reply.run_after_send()
            return twiml([chunk for text in reply.texts for chunk in split_message(text)], reply.images)

    @property
    def stopping(self) -> bool:
        """Whether this process has been asked to stop taking turns."""
        return self._stopped.is_set()

    def stop_taking_turns(self) -> None:
        """Let the turns under way finish, start no new one (the engine's SIGTERM)."""
        self._stopped.set()

    def stop(self) -> None:
        """Stop the worker pool; unfinished rows stay queued in the ledger."""
        self._stopped.set()
        self.dispatcher.stop()
        self.processor.receipts.flush()
        self.services.close()
