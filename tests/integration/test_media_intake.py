"""Media intake against the fake Twilio API: types, credentials only to Twilio's host, limits, lag."""
from __future__ import annotations

import logging

import pytest
import requests

from channels.media import MediaDownloader, MediaRejected
from tests.fakes.twilio_server import FakeTwilio
from tests.fixtures.media import make_jpeg, make_png, make_webp, voice_note
from tests.fixtures.twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN

FAST_RETRIES = (0.05, 0.1, 0.2)


@pytest.fixture
def downloader(twilio_server):
    """A downloader for the fake Twilio account, with short retry delays."""
    with requests.Session() as session:
        yield MediaDownloader(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, twilio_server.api_base_url,
                              session=session, retry_delays=FAST_RETRIES)


@pytest.fixture
def other_server():
    """Another HTTP server on another port: stands in for an attacker's host."""
    server = FakeTwilio(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN).start()
    yield server
    server.stop()


def rejection(downloader: MediaDownloader, url: str, declared: str | None) -> MediaRejected:
    """The MediaRejected raised by downloading `url`."""
    with pytest.raises(MediaRejected) as caught:
        downloader.download(url, declared)
    assert caught.value.user_message_pt
    return caught.value


@pytest.mark.parametrize(("make", "declared", "real", "kind"), [
    (make_jpeg, "image/jpeg", "image/jpeg", "image"),
    (make_png, "image/png", "image/png", "image"),
    (make_webp, "image/webp", "image/webp", "image"),
    (lambda: voice_note("ogg"), "audio/ogg", "audio/ogg", "audio"),
    (lambda: voice_note("mp3"), "audio/mpeg", "audio/mpeg", "audio"),
    (lambda: voice_note("m4a"), "audio/mp4", "audio/mp4", "audio"),
])
def test_supported_media_is_downloaded_with_its_real_type(twilio_server, downloader, make, declared, real, kind):
    data = make()
    url = twilio_server.add_media(None, data, declared)
    media = downloader.download(url, declared)
    assert (media.data, media.content_type, media.kind) == (data, real, kind)


@pytest.mark.parametrize("redirect_status", [307, 302])
def test_credentials_go_to_the_api_path_and_not_to_the_redirect_target(twilio_server, downloader, redirect_status):
    url = twilio_server.add_media(None, voice_note("ogg"), "audio/ogg", redirect_status=redirect_status)
    downloader.download(url, "audio/ogg")
    api_hits = twilio_server.requests("/2010-04-01/")
    cdn_hits = twilio_server.requests("/cdn/")
    assert len(api_hits) == 1 and twilio_server.authorized(api_hits[0].authorization)
    assert len(cdn_hits) == 1 and cdn_hits[0].authorization is None


def test_a_forged_media_url_on_another_host_gets_no_request(twilio_server, downloader, other_server, caplog):
    forged = other_server.add_media(None, make_jpeg(), "image/jpeg")
    with caplog.at_level(logging.WARNING, logger="channels.media"):
        assert rejection(downloader, forged, "image/jpeg").reason_code == "untrusted_host"
    assert other_server.requests() == []
    assert twilio_server.requests() == []
    assert any(r.levelno == logging.WARNING and "127.0.0.1" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("template", [
    "http://localhost:{port}{path}",
    "https://127.0.0.1:{port}{path}",
    "http://{sid}:{token}@127.0.0.1:{port}{path}",
    "http://127.0.0.1.nip.io:{port}{path}",
    "file:///etc/passwd",
    "http://[::1{path}",
    "http://127.0.0.1:99999{path}",
])
def test_lookalike_urls_of_the_api_host_are_refused(twilio_server, downloader, template):
    url = twilio_server.add_media(None, make_jpeg(), "image/jpeg")
    path = url[len(twilio_server.url):]
    forged = template.format(port=twilio_server.port, path=path, sid=TEST_ACCOUNT_SID, token="x")
    assert rejection(downloader, forged, "image/jpeg").reason_code == "untrusted_host"
    assert twilio_server.requests() == []


def test_a_png_claimed_as_a_voice_note_is_rejected(twilio_server, downloader):
    url = twilio_server.add_media(None, make_png(), "audio/ogg")
    assert rejection(downloader, url, "audio/ogg").reason_code == "type_mismatch"


def test_an_image_above_5_mb_is_rejected(twilio_server, downloader, large_png_bytes):
    url = twilio_server.add_media(None, large_png_bytes, "image/png")
    assert rejection(downloader, url, "image/png").reason_code == "too_large"


def test_an_undeclared_image_above_5_mb_is_rejected_after_sniffing(twilio_server, downloader, large_png_bytes):
    url = twilio_server.add_media(None, large_png_bytes, "image/png", chunked=True)
    assert rejection(downloader, url, None).reason_code == "too_large"


def test_reading_stops_at_the_limit_without_content_length(twilio_server, downloader):
    sid_path = "MM" + "1" * 32 + "/Media/ME" + "2" * 32
    url = twilio_server.add_media(sid_path, b"OggS" + bytes(40 * 1024 * 1024), "audio/ogg", chunked=True)
    assert rejection(downloader, url, "audio/ogg").reason_code == "too_large"
    assert twilio_server.media_complete_sends(sid_path) == 0


def test_an_empty_file_is_rejected(twilio_server, downloader):
    url = twilio_server.add_media(None, b"", "image/jpeg")
    assert rejection(downloader, url, "image/jpeg").reason_code == "empty"


def test_an_unsupported_declared_type_is_not_downloaded(twilio_server, downloader):
    url = twilio_server.add_media(None, b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    assert rejection(downloader, url, "video/mp4").reason_code == "unsupported_type"
    assert twilio_server.requests() == []


def test_media_that_lags_is_retried_until_it_appears(twilio_server, downloader):
    sid_path = "MM" + "3" * 32 + "/Media/ME" + "4" * 32
    url = twilio_server.add_media(sid_path, make_jpeg(), "image/jpeg", missing_first=2)
    assert downloader.download(url, "image/jpeg").content_type == "image/jpeg"
    assert twilio_server.media_hits(sid_path) == 3


def test_media_that_never_appears_fails_with_a_clear_reason(twilio_server, downloader):
    sid_path = "MM" + "5" * 32 + "/Media/ME" + "6" * 32
    url = twilio_server.add_media(sid_path, make_jpeg(), "image/jpeg", missing_first=100)
    rejected = rejection(downloader, url, "image/jpeg")
    assert rejected.reason_code == "not_found"
    assert "disponível" in rejected.user_message_pt
    assert twilio_server.media_hits(sid_path) == len(FAST_RETRIES) + 1


def test_wrong_credentials_fail_without_retrying(twilio_server):
    url = twilio_server.add_media(None, make_jpeg(), "image/jpeg")
    wrong = MediaDownloader(TEST_ACCOUNT_SID, "wrong-token", twilio_server.api_base_url, retry_delays=FAST_RETRIES)
    assert rejection(wrong, url, "image/jpeg").reason_code == "download_failed"
    assert len(twilio_server.requests()) == 1
