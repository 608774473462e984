"""Media intake: download from Twilio's API host only, check the real type by content, cap the size.

Credentials go to Twilio's API origin and nowhere else: a MediaUrl on any other host is refused
before any request (a forged URL is an SSRF attempt), and Twilio's redirect to its CDN is followed
by hand without them, because requests keeps auth on a same-host redirect.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

log = logging.getLogger(__name__)

IMAGE_LIMIT = 5 * 1024 * 1024
AUDIO_LIMIT = 16 * 1024 * 1024
LIMITS = {"image": IMAGE_LIMIT, "audio": AUDIO_LIMIT}
KINDS = {"image/jpeg": "image", "image/png": "image", "image/webp": "image",
         "audio/ogg": "audio", "audio/amr": "audio", "audio/aac": "audio", "audio/mp4": "audio",
         "audio/mpeg": "audio"}
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "audio/opus": "audio/ogg",
           "application/ogg": "audio/ogg", "audio/x-m4a": "audio/mp4", "audio/m4a": "audio/mp4",
           "audio/x-aac": "audio/aac", "audio/mp3": "audio/mpeg", "audio/amr-wb": "audio/amr"}
# AAC is sent both raw (ADTS) and inside an MP4 container under either label.
COMPATIBLE = {frozenset({"audio/aac", "audio/mp4"})}
MP4_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"mp41", b"mp42", b"isom", b"iso2", b"3gp4", b"3gp5", b"3gp6", b"dash"}
MAX_REDIRECTS = 3
MESSAGES_PT = {
    "empty": "O arquivo que você enviou está vazio. Pode enviar de novo?",
    "unsupported_type": "Não consigo abrir esse tipo de arquivo. Envie uma foto (JPEG, PNG ou WebP) "
                        "ou um áudio.",
    "type_mismatch": "O arquivo não é do tipo que diz ser, então não vou abri-lo. Envie a foto ou o "
                     "áudio original, por favor.",
    "too_large": "O arquivo é grande demais: fotos podem ter até 5 MB e áudios até 16 MB.",
    "untrusted_host": "Não consegui baixar esse arquivo com segurança, então ele foi ignorado.",
    "not_found": "O arquivo ainda não estava disponível no WhatsApp. Pode enviar de novo daqui a pouco?",
    "download_failed": "Não consegui baixar o arquivo agora. Pode tentar enviar de novo?",
}


class MediaRejected(Exception):
    """A media item we will not use; `user_message_pt` is what to tell the user."""

    def __init__(self, reason_code: str, user_message_pt: str | None = None, detail: str = "") -> None:
        self.reason_code = reason_code
        self.user_message_pt = user_message_pt or MESSAGES_PT.get(reason_code, MESSAGES_PT["download_failed"])
        self.detail = detail
        super().__init__(f"{reason_code}: {detail}" if detail else reason_code)


@dataclass(frozen=True)
class DownloadedMedia:
    """Checked media bytes with their real content type and kind ("image" or "audio")."""

    data: bytes
    content_type: str
    kind: str


def sniff_type(data: bytes) -> str | None:
    """The real content type of `data` from its magic bytes, or None when not a supported type."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head[4:8] == b"ftyp" and _mp4_audio_brand(data):
        return "audio/mp4"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF:
        return _frame_sync_type(head[1])
    return None


def _frame_sync_type(second: int) -> str | None:
    """ADTS (AAC) or MPEG audio from the byte after 0xFF: 12 sync bits, then version and layer."""
    if second & 0xF6 == 0xF0:
        return "audio/aac"
    layer, version = second & 0x06, second & 0x18
    if second & 0xE0 == 0xE0 and layer and version != 0x08:
        return "audio/mpeg"
    return None


def _mp4_audio_brand(data: bytes) -> bool:
    box_size = int.from_bytes(data[:4], "big")
    brands = data[8:12] + data[16:min(max(box_size, 16), 64)]
    return any(brands[i:i + 4] in MP4_AUDIO_BRANDS for i in range(0, len(brands) - 3, 4))


def normalize_type(content_type: str | None) -> str:
    """`content_type` lowercased, without parameters, with common aliases mapped to one name."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def check_media(data: bytes, declared_type: str | None) -> DownloadedMedia:
    """Accept `data` if non-empty, of a supported real type matching `declared_type`, within its limit."""
    declared = normalize_type(declared_type)
    if not data:
        raise MediaRejected("empty")
    real = sniff_type(data)
    if real is None:
        raise MediaRejected("unsupported_type", detail=f"declared {declared or 'nothing'}, unknown content")
    if declared and declared != real and frozenset({declared, real}) not in COMPATIBLE:
        raise MediaRejected("type_mismatch", detail=f"declared {declared}, content is {real}")
    kind = KINDS[real]
    if len(data) > LIMITS[kind]:
        raise MediaRejected("too_large", detail=f"{kind} of {len(data)} bytes")
    return DownloadedMedia(data, real, kind)


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL without user info; None for anything else or malformed."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            return None
        return scheme, parts.hostname.lower(), parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None


def _host_of(url: str) -> str:
    try:
        return repr(urlsplit(url).hostname)
    except ValueError:
        return "(malformed URL)"


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An auth hook that strips credentials (and keeps requests from reading ~/.netrc)."""
    request.headers.pop("Authorization", None)
    return request


class MediaDownloader:
    """Downloads Twilio media with one reused HTTP session; credentials only to `api_base_url`'s origin."""

    def __init__(self, account_sid: str, auth_token: str, api_base_url: str = "https://api.twilio.com",
                 session: requests.Session | None = None, timeout: tuple[float, float] = (5.0, 30.0),
                 retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0), deadline: float = 90.0) -> None:
        self._auth = (account_sid, auth_token)
        self._api_origin = _origin(api_base_url)
        if self._api_origin is None:
            raise ValueError(f"api_base_url must be an http(s) URL, got {api_base_url!r}")
        self._session = session or requests.Session()
        self._timeout, self._retry_delays, self._deadline = timeout, retry_delays, deadline

    def download(self, url: str, declared_type: str | None) -> DownloadedMedia:
        """Fetch `url` (a Twilio MediaUrl) and check it; raises MediaRejected with the reason."""
        if _origin(url) != self._api_origin:
            log.warning("Refused media URL on untrusted host %s (possible SSRF attempt)", _host_of(url))
            raise MediaRejected("untrusted_host", detail=f"host {_host_of(url)}")
        declared = normalize_type(declared_type)
        if declared and declared not in KINDS:
            raise MediaRejected("unsupported_type", detail=f"declared {declared}")
        limit = LIMITS[KINDS[declared]] if declared else max(LIMITS.values())
        for attempt, delay in enumerate((*self._retry_delays, None), start=1):
            try:
                return check_media(self._fetch(url, limit), declared)
            except _Retryable as exc:
                if delay is None:
                    code = "not_found" if exc.status == 404 else "download_failed"
                    raise MediaRejected(code, detail=f"{exc} after {attempt} attempts") from None
                log.info("Media not ready (%s), retrying in %.1f s", exc, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _fetch(self, url: str, limit: int) -> bytes:
        started = time.monotonic()
        auth: object = self._auth
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                response = self._session.get(url, auth=auth, timeout=self._timeout, stream=True,
                                             allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _Retryable(0, type(exc).__name__) from None
            with response:
                if response.is_redirect:
                    url = urljoin(url, response.headers["Location"])
                    if _origin(url) is None:
                        log.warning("Twilio redirected media to a non-http(s) URL on %s", _host_of(url))
                        raise MediaRejected("download_failed", detail="redirect to a non-http(s) URL")
                    auth = _no_auth
                    continue
                if response.status_code in (404, 429) or response.status_code >= 500:
                    raise _Retryable(response.status_code, f"HTTP {response.status_code}")
                if response.status_code != 200:
                    raise MediaRejected("download_failed", detail=f"HTTP {response.status_code}")
                return self._read_capped(response, limit, started)
        raise MediaRejected("download_failed", detail=f"more than {MAX_REDIRECTS} redirects")

    def _read_capped(self, response: requests.Response, limit: int, started: float) -> bytes:
        declared_length = response.headers.get("Content-Length", "")
        if declared_length.isdigit() and int(declared_length) > limit:
            raise MediaRejected("too_large", detail=f"Content-Length {declared_length}")
        data = bytearray()
        try:
            for chunk in response.iter_content(chunk_size=64 * 1024):
                data += chunk
                if len(data) > limit:
                    raise MediaRejected("too_large", detail=f"more than {limit} bytes")
                if time.monotonic() - started > self._deadline:
                    raise MediaRejected("download_failed", detail="download too slow")
        except requests.RequestException as exc:
            raise _Retryable(0, type(exc).__name__) from None
        return bytes(data)


class _Retryable(Exception):
    def __init__(self, status: int, text: str) -> None:
        self.status = status
        super().__init__(text)
