"""Magic-byte sniffing and the media checks, on real encoder output where we have it."""
from __future__ import annotations

import pytest

from channels.media import (AUDIO_LIMIT, IMAGE_LIMIT, MediaRejected, check_media, normalize_type,
                            sniff_type)
from tests.fixtures.media import make_jpeg, make_png, make_webp, voice_note


@pytest.mark.parametrize(("make", "expected"), [
    (make_jpeg, "image/jpeg"),
    (make_png, "image/png"),
    (make_webp, "image/webp"),
    (lambda: voice_note("ogg"), "audio/ogg"),
    (lambda: voice_note("aac"), "audio/aac"),
    (lambda: voice_note("m4a"), "audio/mp4"),
    (lambda: voice_note("mp3"), "audio/mpeg"),
])
def test_real_files_are_recognised(make, expected):
    assert sniff_type(make()) == expected


@pytest.mark.parametrize(("head", "expected"), [
    (b"#!AMR\n\x3c\x91", "audio/amr"),
    (b"#!AMR-WB\n\x04", "audio/amr"),
    (b"\xff\xf1\x50\x80\x02\x1f\xfc", "audio/aac"),
    (b"\xff\xf9\x50\x80\x02\x1f\xfc", "audio/aac"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x0a", "audio/mpeg"),
    (b"\xff\xfb\x90\x64\x00", "audio/mpeg"),
    (b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A isom", "audio/mp4"),
    (b"\x00\x00\x00\x1cftypdash\x00\x00\x00\x00iso6mp41", "audio/mp4"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", None),
    (b"GIF89a\x01\x00\x01\x00", None),
    (b"%PDF-1.7\n", None),
    (b"<html><body>hi</body></html>", None),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
    (b"\xff\xea\x00", None),
    (b"\xff", None),
    (b"", None),
])
def test_magic_bytes(head, expected):
    assert sniff_type(head) == expected


@pytest.mark.parametrize(("declared", "normal"), [
    ("audio/ogg; codecs=opus", "audio/ogg"),
    ("IMAGE/JPG", "image/jpeg"),
    ("audio/x-m4a", "audio/mp4"),
    (None, ""),
])
def test_declared_types_are_normalised(declared, normal):
    assert normalize_type(declared) == normal


def test_accepted_media_reports_real_type_and_kind():
    media = check_media(voice_note("ogg"), "audio/ogg; codecs=opus")
    assert (media.content_type, media.kind) == ("audio/ogg", "audio")
    assert check_media(make_jpeg(), None).kind == "image"
    assert check_media(voice_note("aac"), "audio/mp4").content_type == "audio/aac"


@pytest.mark.parametrize(("data", "declared", "reason"), [
    (b"", "image/jpeg", "empty"),
    (b"just some text", "text/plain", "unsupported_type"),
    (b"just some text", None, "unsupported_type"),
    (make_png(), "audio/ogg", "type_mismatch"),
    (make_jpeg(), "image/png", "type_mismatch"),
    (b"\x89PNG\r\n\x1a\n" + bytes(IMAGE_LIMIT), "image/png", "too_large"),
    (b"OggS" + bytes(AUDIO_LIMIT), "audio/ogg", "too_large"),
])
def test_rejections_carry_a_reason_and_a_portuguese_message(data, declared, reason):
    with pytest.raises(MediaRejected) as caught:
        check_media(data, declared)
    assert caught.value.reason_code == reason
    assert caught.value.user_message_pt and caught.value.user_message_pt != reason
