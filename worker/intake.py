"""Turns ledger entries into a Turn: media downloaded, checked, stored; voice notes transcribed.

Runs in the worker, never in the webhook. Every rejected file becomes a notice the user will
read; nothing here raises for bad user input.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agent.transcription import FAILED_NOTICE, TranscriptionFailed, transcribe
from agent.turn import Turn
from channels.media import MediaRejected
from common.cpf import mask_cpfs_in_text, valid_cpfs_in_text
from common.thumbnails import THUMBNAIL_TYPE, make_thumbnail
from storage import images
from storage.conversation import get_flow
from storage.ledger import LedgerEntry
from storage.media import MediaNotFound, make_key, thumbnail_key

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
NO_TWILIO = "Recebi um arquivo, mas este servidor não tem credenciais do Twilio para baixá-lo."


def _attach(services: "Services", entry: LedgerEntry, turn: Turn, password_expected: bool) -> None:
    """Download, check and keep each media item of an entry, once (a retried turn reuses what it kept)."""
    if not entry.media:
        return
    kept = images.media_for_message(services.db, entry.message_sid)
    for index, item in enumerate(entry.media):
        record = kept[index] if index < len(kept) else _download(services, entry, item, turn)
        if record is None:
            continue
        if record.kind == "image":
            turn.image_ids.append(record.id)
        else:
            turn.audio_ids.append(record.id)
            if password_expected:
                turn.spoken = True  # may hold the password: never sent to Whisper; the flow refuses it
            else:
                _transcribe_into(services, record, turn)


def _download(services: "Services", entry: LedgerEntry, item: dict, turn: Turn) -> "images.MediaRecord | None":
    if services.downloader is None:
        turn.notices.append(NO_TWILIO)
        return None
    try:
        with services.gate.waiting():
            media = services.downloader.download(item["url"], item.get("content_type", ""))
    except MediaRejected as rejected:
        turn.notices.append(rejected.user_message_pt)
        return None
    key = make_key(media.kind, entry.sender.lstrip("+"), media.content_type)
    with services.gate.waiting():
        services.media.put(key, media.data, media.content_type)
    thumb = store_thumbnail(services, key, media.data) if media.kind == images.IMAGE else None
    media_id = images.add_media(services.db, entry.sender, media.kind, key, media.content_type, len(media.data),
                                message_sid=entry.message_sid, thumb_key=thumb)
    return images.get_media(services.db, media_id)


def store_thumbnail(services: "Services", key: str, data: bytes) -> str | None:
    """Store the dashboard's small copy of a photo; its key, or None (the dashboard then shows the
    photo itself: a thumbnail never costs the user their message)."""
    thumbnail = make_thumbnail(data)
    if thumbnail is None:
        return None
    thumb_key = thumbnail_key(key)
    try:
        with services.gate.waiting():
            services.media.put(thumb_key, thumbnail, THUMBNAIL_TYPE)
    except Exception:
        log.warning("could not store the thumbnail of %s", key, exc_info=True)
        return None
    return thumb_key


def _transcribe_into(services: "Services", record: images.MediaRecord, turn: Turn) -> None:
    """Transcribe a voice note now; its text becomes part of what the agent reads."""
    text = record.transcript
    if not text:
        try:
            with services.gate.waiting():
                audio = services.media.get(record.key)
            text = transcribe(services.openai, services.config.whisper_model, audio, record.content_type)
            images.set_transcript(services.db, record.id, text=text)
        except TranscriptionFailed as exc:
            log.warning("voice note %s not transcribed: %s", record.id, exc)
            images.set_transcript(services.db, record.id, error=str(exc))
            turn.notices.append(FAILED_NOTICE)
            return
    turn.spoken = True
    turn.raw_text = "\n".join(filter(None, [turn.raw_text, text]))


def _password_expected(services: "Services", sender: str) -> bool:
    """Whether the sender's pending flow is waiting for a password (registration or login)."""
    flow = get_flow(services.db, sender)
    return flow is not None and flow.name.endswith(":password")


def build_turn(services: "Services", entries: list[LedgerEntry]) -> Turn:
    """One Turn from a sender's entries (one text, or a burst of media messages)."""
    first = entries[0]
    turn = Turn(sender=first.sender, text="", profile_name=first.profile_name,
                message_sids=[e.message_sid for e in entries], ledger_ids=[e.id for e in entries])
    turn.raw_text = "\n".join(e.body for e in entries if e.body.strip())
    password_expected = any(e.media for e in entries) and _password_expected(services, first.sender)
    for entry in entries:
        _attach(services, entry, turn, password_expected)
    turn.cpfs = valid_cpfs_in_text(turn.raw_text)
    turn.text = mask_cpfs_in_text(turn.raw_text)
    return turn


def backfill_thumbnails(services: "Services", batch: int = 100) -> tuple[int, int]:
    """Make the thumbnails of photos stored before they existed (`flask --app app make-thumbnails`);
    returns (made, skipped: the file is gone or not an image Pillow reads)."""
    made = skipped = last = 0
    while rows := images.images_without_thumbnail(services.db, after_id=last, limit=batch):
        for record in rows:
            last = record.id
            try:
                data = services.media.get(record.key)
            except MediaNotFound:
                skipped += 1
                continue
            thumb = store_thumbnail(services, record.key, data)
            if thumb is None:
                skipped += 1
                continue
            images.set_thumbnail(services.db, record.id, thumb)
            made += 1
    return made, skipped
