"""Contract tests every media store must pass (local folder, S3 on moto), plus what each one adds:
signed local links, presigned S3 links fetched over HTTP, and expiry enforced by SeaweedFS."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from storage.media import InvalidMediaKey, MediaNotFound, content_type_for, make_key, open_media_store
from storage.media.local import LocalMediaStore, verify_signature
from storage.media.s3 import S3MediaStore, make_client
from tests.fixtures.stores import LOCAL_SECRET, S3_KEY, S3_SECRET

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
BAD_KEYS = ["../secret", "images/../../etc/passwd", "/etc/passwd", "images//x.jpg", "images/./x.jpg", "", ".env",
            "images/x.jpg\x00", "images\\x.jpg", "images/x y.jpg", "images/é.jpg", "images/.hidden", "a/.."]


def test_put_get_delete_roundtrip(media_store):
    key = make_key("image", "5511999990001", "image/jpeg")
    media_store.put(key, JPEG, "image/jpeg")
    assert media_store.get(key) == JPEG
    media_store.put(key, b"replaced", "image/jpeg")
    assert media_store.get(key) == b"replaced"
    media_store.delete(key)
    with pytest.raises(MediaNotFound):
        media_store.get(key)
    media_store.delete(key)


def test_missing_key_raises_media_not_found(media_store):
    with pytest.raises(MediaNotFound):
        media_store.get("images/5511999990001/2026/01/missing.jpg")


def test_keys_of_two_owners_do_not_mix(media_store):
    first, second = make_key("image", "5511", "image/png"), make_key("audio", "5522", "audio/ogg")
    media_store.put(first, b"png", "image/png")
    media_store.put(second, b"ogg", "audio/ogg")
    assert (media_store.get(first), media_store.get(second)) == (b"png", b"ogg")
    assert first.startswith("images/5511/") and second.startswith("audio/5522/") and second.endswith(".ogg")


def test_keys_lists_one_folder_in_order(media_store):
    for key in ("exports/5511/b.json", "exports/5511/a.json", "exports/5522/c.json", "exportsx/d.json",
                "images/5511/e.jpg"):
        media_store.put(key, b"x", "application/json")
    assert media_store.keys("exports/") == ["exports/5511/a.json", "exports/5511/b.json", "exports/5522/c.json"]
    assert media_store.keys("exports/5511") == ["exports/5511/a.json", "exports/5511/b.json"]
    assert media_store.keys("thumbs/") == []
    media_store.delete("exports/5511/a.json")
    assert media_store.keys("exports/5511/") == ["exports/5511/b.json"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_path_traversal_and_odd_keys_are_refused(media_store, key):
    for action in (lambda: media_store.put(key, b"x", "image/jpeg"), lambda: media_store.get(key),
                   lambda: media_store.url(key), lambda: media_store.delete(key),
                   lambda: media_store.keys(key)):
        with pytest.raises(InvalidMediaKey):
            action()


def test_ping(media_store):
    media_store.ping()


def test_make_key_refuses_non_digit_owner():
    with pytest.raises(ValueError):
        make_key("image", "55../11", "image/jpeg")


def test_content_type_comes_from_the_extension():
    assert [content_type_for(k) for k in ("a/b.jpg", "a/b.ogg", "a/b.m4a", "a/b.bin", "a/b")] == [
        "image/jpeg", "audio/ogg", "audio/mp4", "application/octet-stream", "application/octet-stream"]


def _signed_parts(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path.removeprefix("/media/"), query["exp"][0], query["sig"][0]


def test_local_url_is_signed_and_verifies(tmp_path):
    base = {"url": "https://bot.example.com/"}
    store = LocalMediaStore(tmp_path, LOCAL_SECRET, lambda: base["url"])
    store.put("images/55/a.jpg", JPEG, "image/jpeg")
    url = store.url("images/55/a.jpg", expires_in=60)
    assert url.startswith("https://bot.example.com/media/images/55/a.jpg?exp=")
    key, exp, sig = _signed_parts(url)
    assert int(exp) - time.time() == pytest.approx(60, abs=2)
    assert verify_signature(LOCAL_SECRET, key, exp, sig)
    base["url"] = "http://other-host:8080"
    assert store.url("images/55/a.jpg").startswith("http://other-host:8080/media/")


def test_local_signature_refuses_tampering_and_expiry(tmp_path):
    store = LocalMediaStore(tmp_path, LOCAL_SECRET, lambda: "http://h")
    key, exp, sig = _signed_parts(store.url("images/55/a.jpg", expires_in=30))
    assert not verify_signature(LOCAL_SECRET, "images/55/b.jpg", exp, sig)
    assert not verify_signature(LOCAL_SECRET, key, str(int(exp) + 1000), sig)
    assert not verify_signature(LOCAL_SECRET, key, exp, sig[:-1] + ("0" if sig[-1] != "0" else "1"))
    assert not verify_signature("another-secret-of-some-length", key, exp, sig)
    assert not verify_signature(LOCAL_SECRET, key, "soon", sig)
    assert not verify_signature(LOCAL_SECRET, key, exp, "")
    assert verify_signature(LOCAL_SECRET, key, exp, sig, now=int(exp))
    assert not verify_signature(LOCAL_SECRET, key, exp, sig, now=int(exp) + 1)


def test_local_store_keeps_files_inside_root_and_private(tmp_path):
    store = LocalMediaStore(tmp_path / "media", LOCAL_SECRET, lambda: "http://h")
    store.put("audio/55/v.ogg", b"opus", "audio/ogg")
    path = tmp_path / "media" / "audio" / "55" / "v.ogg"
    assert path.read_bytes() == b"opus" and path.stat().st_mode & 0o077 == 0
    assert store.content_type("audio/55/v.ogg") == "audio/ogg"
    (tmp_path / "outside.txt").write_text("secret")
    (tmp_path / "media" / "link").symlink_to(tmp_path)
    with pytest.raises(InvalidMediaKey):
        store.get("link/outside.txt")


def test_local_store_needs_a_secret(tmp_path):
    with pytest.raises(ValueError):
        LocalMediaStore(tmp_path, "", lambda: "http://h")


def test_s3_presigned_url_downloads_over_http(s3_server, s3_bucket):
    store = S3MediaStore(s3_bucket, prefix="/tenant-a/", endpoint_url=s3_server, access_key=S3_KEY,
                         secret_key=S3_SECRET)
    store.put("images/55/a.jpg", JPEG, "image/jpeg")
    response = requests.get(store.url("images/55/a.jpg", expires_in=300), timeout=10)
    assert response.status_code == 200 and response.content == JPEG
    assert response.headers["Content-Type"] == "image/jpeg"
    raw = make_client(s3_server, access_key=S3_KEY, secret_key=S3_SECRET)
    assert [o["Key"] for o in raw.list_objects_v2(Bucket=s3_bucket)["Contents"]] == ["tenant-a/images/55/a.jpg"]
    assert "X-Amz-Signature=" in store.url("images/55/a.jpg") and "X-Amz-Algorithm=AWS4-HMAC-SHA256" in store.url("x")


def test_s3_ping_fails_for_a_missing_bucket(s3_server):
    with pytest.raises(Exception):
        S3MediaStore("no-such-bucket-here", endpoint_url=s3_server, access_key=S3_KEY, secret_key=S3_SECRET).ping()


def test_open_media_store_picks_by_bucket(tmp_path, s3_server, s3_bucket):
    local = open_media_store(media_dir=tmp_path / "m", secret_key=LOCAL_SECRET, base_url_getter=lambda: "http://h")
    assert isinstance(local, LocalMediaStore) and local.root == (tmp_path / "m").resolve()
    s3 = open_media_store(bucket_name=s3_bucket, prefix="p", s3_endpoint=s3_server, aws_access_key_id=S3_KEY,
                          aws_secret_access_key=S3_SECRET, aws_region="us-east-1", media_dir=tmp_path / "unused",
                          secret_key=LOCAL_SECRET, base_url_getter=lambda: "http://h")
    assert isinstance(s3, S3MediaStore) and s3.prefix == "p/"
    s3.put("images/1/a.png", b"png", "image/png")
    assert s3.get("images/1/a.png") == b"png"


@pytest.mark.slow
def test_seaweedfs_enforces_presigned_url_expiry_and_signatures(seaweedfs):
    raw = make_client(seaweedfs, access_key=S3_KEY, secret_key=S3_SECRET)
    raw.create_bucket(Bucket="media-expiry")
    store = S3MediaStore("media-expiry", prefix="app", endpoint_url=seaweedfs, access_key=S3_KEY,
                         secret_key=S3_SECRET)
    store.ping()
    store.put("images/55/a.jpg", JPEG, "image/jpeg")
    assert store.get("images/55/a.jpg") == JPEG
    assert requests.get(f"{seaweedfs}/media-expiry/app/images/55/a.jpg", timeout=10).status_code == 403
    url = store.url("images/55/a.jpg", expires_in=1)
    fresh = requests.get(url, timeout=10)
    assert (fresh.status_code, fresh.content) == (200, JPEG)
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    forged = url.replace(signature, signature[:-1] + ("0" if signature[-1] != "0" else "1"))
    assert requests.get(forged, timeout=10).status_code == 403
    time.sleep(2.2)
    expired = requests.get(url, timeout=10)
    assert expired.status_code == 403 and b"expired" in expired.content.lower()
    store.delete("images/55/a.jpg")
    with pytest.raises(MediaNotFound):
        store.get("images/55/a.jpg")
