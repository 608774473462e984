"""Processes one turn end to end: intake, the assistant, the chat log, delivery, the ledger."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from agent.runtime import Assistant
from agent.turn import Reply, Turn
from channels.twilio_outbound import SendFailed
from common.clock import utcnow
from common.cpf import mask_cpfs_in_text
from common.errors import short_reason
from storage import images, ledger, reminders
from storage.deliveries import ReceiptBuffer, SentPart
from storage.chatlog import LoggedMessage
from storage.sealing import UNREADABLE_REASON, is_unreadable
from storage.ledger import REDACTED, LedgerEntry

from .after_send import AfterSendJournal, Owed
from .attempts import RUNNING_JOB, DeliveredButUnrecorded
from .intake import build_turn

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
APOLOGY = ("Desculpe, não consegui processar sua mensagem agora. Ela ficou registrada; "
           "tente de novo em alguns minutos.")
# Pauses between tries of the bookkeeping after a reply went out (chat log, ledger): a database
# blip there must not make the dispatcher answer, and send, the same turn again.
RECORD_PAUSES = (0.25, 0.5, 1.0, 2.0, 4.0)
INLINE_NOTE = "answered inline (twiml)"


class TurnProcessor:
    """Given a sender's ledger entries, produce and deliver the reply, recording everything."""

    def __init__(self, services: "Services", assistant: Assistant, journal: AfterSendJournal | None = None) -> None:
        self.services = services
        self.assistant = assistant
        self.journal = journal
        self.receipts = ReceiptBuffer(services.db)  # sent parts' SIDs, written by the runtime's chores

    def answer(self, entries: list[LedgerEntry], pauses: tuple[float, ...] = RECORD_PAUSES) -> Reply:
        """Build the turn and get the reply; a reply that captured a secret redacts the ledger, tried
        again after each of `pauses` (none inside a twiml webhook, which Twilio waits 15 s for)."""
        turn = build_turn(self.services, entries)
        reply = self.assistant.respond(turn)
        if reply.secret:
            self._keep_secret_out(turn, [e.id for e in entries], pauses)
        return reply

    def _keep_secret_out(self, turn: Turn, ids: list[int], pauses: tuple[float, ...]) -> None:
        """Redact a password from the ledger and delete a voice note that may hold it. The turn has
        already acted on it (an account made, a login checked): running the turn again would hand
        the password, no longer inside its dialogue, to the model. So a database that refuses is
        tried again over a few seconds, then the redaction is owed in the after-send journal; the
        turn goes on either way."""
        try:
            self._forget_voice_notes(turn)
        except Exception:
            log.exception("could not delete the voice notes of a turn that carried a password")
        if not self._record(lambda: ledger.redact_body(self.services.db, ids), "redact a password from the ledger",
                            pauses):
            self._owe(Owed(redact_ids=ids))

    def process(self, entries: list[LedgerEntry]) -> None:
        """The worker's job for one turn (REST mode): answer, deliver, then one chat-log write for
        the turn's inbound and outbound lines, and the ledger. The chat log is written after the
        send, off the user's wait, and a retried turn cannot log its inbound lines twice. A reply
        Twilio refuses (after the sender's own retries) marks the rows failed, never retried: part
        of it may have gone out. What the stores still refuse after the send goes to the after-send
        journal, never to a second send. Rows are stamped `sending` before the first part leaves: if
        this process dies from there on, no worker answers them again. A body sealed under another
        SECRET_KEY is never answered: its rows fail with UNREADABLE_REASON and the user is told."""
        entries = self._refuse_unreadable(entries)
        if not entries:
            return
        reply = self.answer(entries)
        ids = [e.id for e in entries]
        ledger.mark_sending(self.services.db, ids, RUNNING_JOB.get())
        lines = self.inbound_lines(entries, reply)
        failure = note = None
        try:
            self.deliver(entries[0].sender, reply, lines)
        except SendFailed as exc:
            log.error("reply to %s not delivered: %s", entries[0].sender[-4:], exc)
            failure = f"reply not delivered: {exc}"
        logged = self._write_chat_log(lines)
        if reply.held_reminders and failure is None:
            self._record(lambda: reminders.delivered_with_reply(self.services.db, reply.held_reminders, utcnow()),
                         "mark the held reminders sent")
        if failure is not None:
            marked = self._record(lambda: ledger.mark_failed(self.services.db, ids, failure), "mark the ledger failed")
        else:
            note = None if self.services.sender.can_deliver else "Twilio not configured: reply kept locally"
            marked = self._record(lambda: ledger.mark_done(self.services.db, ids, note), "mark the ledger done")
        reply.run_after_send()  # off the user's wait: the reply has gone
        if logged and marked:
            return
        self._owe(Owed([] if marked else ids, note, [] if logged else lines, failure))
        if not marked:
            outcome = "failed" if failure else "done"
            raise DeliveredButUnrecorded(f"reply sent or tried; ledger rows {ids} could not be marked {outcome}")

    def _refuse_unreadable(self, entries: list[LedgerEntry]) -> list[LedgerEntry]:
        """Fail the entries whose body no key opens, telling the user once; returns the others."""
        unreadable = [e for e in entries if is_unreadable(e.body)]
        if not unreadable:
            return entries
        log.error("%d message(s) from %s cannot be opened: %s", len(unreadable), unreadable[0].sender[-4:],
                  UNREADABLE_REASON)
        ledger.mark_failed(self.services.db, [e.id for e in unreadable], UNREADABLE_REASON)
        self.give_up(unreadable, UNREADABLE_REASON)
        return [e for e in entries if not is_unreadable(e.body)]

    def record_inline(self, entries: list[LedgerEntry], reply: Reply) -> bool:
        """REPLY_MODE=twiml: the chat log and the ledger for a reply about to leave in the webhook's
        response. One try each (Twilio waits 15 s at most); what the stores refuse is owed in the
        after-send journal, and the reply still goes: never a 500 for an answer already made. True
        when both took it."""
        ids = [e.id for e in entries]
        lines = self.inbound_lines(entries, reply) + self.outbound_lines(entries[0].sender, reply)
        logged = self._record(lambda: self.services.chatlog.append_many(lines), "write the chat log", pauses=())
        if reply.held_reminders:
            self._record(lambda: reminders.delivered_with_reply(self.services.db, reply.held_reminders, utcnow()),
                         "mark the held reminders sent", pauses=())
        marked = self._record(lambda: ledger.mark_done(self.services.db, ids, INLINE_NOTE), "mark the ledger done",
                              pauses=())
        if not (logged and marked):
            self._owe(Owed([] if marked else ids, INLINE_NOTE, [] if logged else lines))
        return logged and marked

    def fail_inline(self, ids: list[int], reason: str) -> None:
        """REPLY_MODE=twiml: mark a turn that could not be answered failed, or owe the mark."""
        if not self._record(lambda: ledger.mark_failed(self.services.db, ids, reason), "mark the ledger failed",
                            pauses=()):
            self._owe(Owed(ids, None, [], reason))

    def _owe(self, owed: Owed) -> None:
        """Keep in the after-send journal what the stores refused; a journal that cannot be written
        either is logged, never raised (that would retry, and send, the turn again)."""
        if self.journal is None:
            return
        try:
            self.journal.owe(owed)
        except Exception:
            log.exception("could not keep what a sent turn owes in %s", self.journal.path)
            return
        log.warning("kept what the turn still owes in %s until the stores answer", self.journal.path)

    def _record(self, record: Callable[[], object], what: str, pauses: tuple[float, ...] = RECORD_PAUSES) -> bool:
        """Run `record` (bookkeeping once the turn has acted: a redaction, then what follows a send),
        trying again after each of `pauses`; False if it never succeeded. The pauses give the worker's
        CPU slot back."""
        for pause in (*pauses, None):
            try:
                record()
                return True
            except Exception as exc:
                reason = short_reason(exc)
                if pause is None:
                    log.error("could not %s: %s", what, reason)
                else:
                    log.warning("could not %s (%s); trying again in %.2f s", what, reason, pause)
                    self.services.gate.sleep(pause)
        return False

    def _forget_voice_notes(self, turn: Turn) -> None:
        """A voice note sent where a password was expected may hold it: its audio and transcript go."""
        for key in images.delete_voice_notes(self.services.db, turn.sender, turn.audio_ids):
            try:
                self.services.media.delete(key)
            except Exception:
                log.exception("could not delete the voice note %s sent at a password prompt", key)

    def inbound_lines(self, entries: list[LedgerEntry], reply: Reply) -> list[LoggedMessage]:
        """The chat-log lines of a turn's inbound messages, stamped with their arrival: redacted when
        the reply captured a secret, CPFs masked otherwise."""
        lines = []
        for index, entry in enumerate(entries):
            if reply.secret:
                body = REDACTED
            elif index == 0 and reply.inbound_for_log is not None:
                body = reply.inbound_for_log
            else:
                body = mask_cpfs_in_text(entry.body)
            if entry.media and not reply.secret:
                body = f"{body} [{len(entry.media)} anexo(s)]".strip()
            lines.append(LoggedMessage(entry.sender, body, "in", entry.message_sid, entry.received_at))
        return lines

    @staticmethod
    def outbound_lines(phone: str, reply: Reply) -> list[LoggedMessage]:
        """The chat-log lines of a reply that went out in the webhook's own response (twiml mode)."""
        now = utcnow()
        lines = [LoggedMessage(phone, reply.text, "out", None, now)] if reply.text else []
        return lines + [LoggedMessage(phone, f"[imagem] {caption}", "out", None, now) for _url, caption in reply.images]

    def _write_chat_log(self, lines: list[LoggedMessage]) -> bool:
        """One write for the turn's lines; False when the chat log stayed unwritable through the
        retries (never a reason for a second send)."""
        return self._record(lambda: self.services.chatlog.append_many(lines), "write the chat log")

    def deliver(self, phone: str, reply: Reply, sent: list[LoggedMessage]) -> None:
        """Send texts then images through the configured sender, adding to `sent` the chat-log line of
        each message as it goes out (so a send that fails midway still logs what did go out)."""
        sender = self.services.sender
        receipt = self.receipts.add if sender.can_deliver else (lambda _part: None)
        if reply.text:
            try:
                sids = sender.send_text(phone, reply.text)
            except SendFailed as exc:
                if exc.delivered:  # the first chunks of a long text went out: the log says which
                    sent.append(LoggedMessage(phone, "\n".join(chunk for _sid, chunk in exc.delivered), "out",
                                              exc.delivered[0][0], utcnow()))
                    for sid, _chunk in exc.delivered:
                        receipt(SentPart(sid, phone, "reply"))
                raise
            sent.append(LoggedMessage(phone, reply.text, "out", sids[0] if sids else None, utcnow()))
            for sid in sids:
                receipt(SentPart(sid, phone, "reply"))
        for url, caption in reply.images:
            sid = sender.send_image(phone, url, caption)
            sent.append(LoggedMessage(phone, f"[imagem] {caption}", "out", sid, utcnow()))
            receipt(SentPart(sid, phone, "image"))

    def give_up(self, entries: list[LedgerEntry], reason: str) -> None:
        """After the last retry: tell the user, so no message fails silently."""
        if not entries:
            return
        try:
            self.services.sender.send_text(entries[0].sender, APOLOGY)
            self.services.chatlog.append(entries[0].sender, APOLOGY, "out", None)
        except Exception:
            log.exception("could not send the apology for a failed turn")
