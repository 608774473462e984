"""Issue B end to end: photos kept with descriptions, found and sent back; voice notes transcribed."""
from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import func, select

from storage.models import ImageDescription, ImageLink, MediaObject
from tests.factories import make_user
from tests.fakes.openai_server import image_parts, message_text, say, tool
from storage.media.s3 import make_client
from tests.fixtures.media import make_jpeg, make_large_png, make_png, voice_note
from tests.fixtures.stores import S3_KEY, S3_SECRET

pytestmark = pytest.mark.slow
ALICE, BOB = "+5511999990001", "+5511999990002"


def _count(live, model) -> int:
    with live.services.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def _descriptions(live) -> list[tuple[str, str, int]]:
    with live.services.db.session() as session:
        rows = session.scalars(select(ImageDescription).order_by(ImageDescription.id)).all()
        return [(d.from_number, d.descricao, len(d.links)) for d in rows]


def _photo(twilio_server, data=None, content_type="image/jpeg") -> tuple[str, str]:
    return twilio_server.add_media(None, data or make_jpeg(), content_type), content_type


@pytest.fixture
def alice_app(live_app):
    make_user(live_app.services.db, ALICE)
    return live_app


def test_photo_with_caption_is_saved_in_the_local_store(alice_app, openai_server, twilio_server):
    openai_server.on(r"1 foto.*cachorro na praia", tool("save_image", description="meu cachorro na praia"))
    alice_app.send(ALICE, "meu cachorro na praia", media=[_photo(twilio_server)])
    reply = twilio_server.wait_for(1, to=f"whatsapp:{ALICE}", timeout=15)[0].body
    assert "Salvei sua foto" in reply
    assert _descriptions(alice_app) == [(ALICE, "meu cachorro na praia", 1)]
    with alice_app.services.db.session() as session:
        key = session.scalar(select(ImageLink.image_link))
    assert alice_app.services.media.get(key)[:3] == b"\xff\xd8\xff"
    assert (alice_app.config.media_dir / key).is_file()
    with alice_app.services.db.session() as session:
        thumb = session.scalar(select(MediaObject.thumb_key).where(MediaObject.key == key))
    assert thumb == "thumbs/" + key.split("/", 1)[1].rsplit(".", 1)[0] + ".jpg"
    assert (alice_app.config.media_dir / thumb).read_bytes()[:3] == b"\xff\xd8\xff"


def test_photo_with_caption_is_saved_in_s3(make_live_app, s3_server, s3_bucket, openai_server, twilio_server):
    live = make_live_app(BUCKET_NAME=s3_bucket, PREFIX="fotos/", S3_ENDPOINT=s3_server, AWS_ACCESS_KEY_ID=S3_KEY,
                         AWS_SECRET_ACCESS_KEY=S3_SECRET)
    make_user(live.services.db, ALICE)
    openai_server.on(r"1 foto.*gato", tool("save_image", description="gato dormindo"))
    live.send(ALICE, "gato dormindo", media=[_photo(twilio_server, make_png(), "image/png")])
    twilio_server.wait_for(1, timeout=15)
    with live.services.db.session() as session:
        key = session.scalar(select(ImageLink.image_link))
    client = make_client(s3_server, access_key=S3_KEY, secret_key=S3_SECRET)
    stored = client.get_object(Bucket=s3_bucket, Key=f"fotos/{key}")
    assert stored["ContentType"] == "image/png" and stored["Body"].read()[:4] == b"\x89PNG"
    thumb = client.get_object(Bucket=s3_bucket, Key="fotos/thumbs/" + key.split("/", 1)[1].rsplit(".", 1)[0] + ".jpg")
    assert thumb["ContentType"] == "image/jpeg" and thumb["Body"].read()[:3] == b"\xff\xd8\xff"
    openai_server.on(r"mostre fotos de gato", tool("search_images", query="gato"))
    live.send(ALICE, "mostre fotos de gato")
    image = twilio_server.wait_for(3, timeout=15)[2]
    assert image.media_urls[0].startswith(s3_server) and "X-Amz-Expires=3600" in image.media_urls[0]
    assert requests.get(image.media_urls[0], timeout=5).content[:4] == b"\x89PNG"


def test_photo_alone_gets_a_question_and_the_next_text_describes_it(make_live_app, openai_server, twilio_server):
    """With the model but VISION=off: the server asks and links the answer, no model call at all."""
    live = make_live_app(VISION="off")
    make_user(live.services.db, ALICE)
    live.send(ALICE, "", media=[_photo(twilio_server)])
    first = twilio_server.wait_for(1, timeout=15)[0].body
    assert first == "Recebi sua foto! Me diga uma descrição para eu guardar (ex.: \"meu cachorro na praia\")."
    assert _descriptions(live) == []
    live.send(ALICE, "cachorro no parque")
    second = twilio_server.wait_for(2, timeout=15)[1].body
    assert "Salvei sua foto" in second
    assert _descriptions(live) == [(ALICE, "cachorro no parque", 1)]
    assert openai_server.chat_requests() == []


def test_a_burst_of_three_photos_is_one_turn_one_reply_one_description(alice_app, openai_server, twilio_server):
    openai_server.on(r"^Descreva as fotos", say("1: praia\n2: mar\n3: areia"))
    openai_server.on(r"^\[3 foto\(s\).*viagem", tool("save_image", description="viagem à praia"))
    for n in range(3):
        alice_app.send(ALICE, "viagem à praia" if n == 0 else "", media=[_photo(twilio_server, make_jpeg(f"f{n}"))])
        time.sleep(0.4)
    reply = twilio_server.wait_for(1, timeout=15)
    alice_app.wait_idle()
    time.sleep(0.3)
    assert len(twilio_server.messages()) == 1 and "Salvei suas 3 fotos" in reply[0].body
    assert _descriptions(alice_app) == [(ALICE, "viagem à praia", 3)]
    vision, *agent = openai_server.chat_requests()
    assert len(image_parts(vision)) == 3 and len(agent) == 2  # the three photos seen in one call, then the agent


def test_search_sends_the_senders_own_images_that_really_download(alice_app, openai_server, twilio_server):
    make_user(alice_app.services.db, BOB)
    openai_server.on(r"1 foto.*cachorros no sítio", tool("save_image", description="cachorros no sítio"))
    openai_server.on(r"1 foto.*cachorro do bob", tool("save_image", description="cachorro do bob"))
    openai_server.on(r"mostre fotos de cachorro", tool("search_images", query="cachorro"))
    alice_app.send(ALICE, "cachorros no sítio", media=[_photo(twilio_server, make_jpeg("alice"))])
    alice_app.send(BOB, "cachorro do bob", media=[_photo(twilio_server, make_jpeg("bob"))])
    twilio_server.wait_for(2, timeout=15)
    alice_app.send(ALICE, "mostre fotos de cachorro")
    sent = twilio_server.wait_for(3, to=f"whatsapp:{ALICE}", timeout=15)
    assert "Encontrei 1 foto" in sent[1].body
    image = sent[2]
    assert image.body == "cachorros no sítio" and len(image.media_urls) == 1
    fetched = requests.get(image.media_urls[0], timeout=5)
    assert fetched.status_code == 200 and fetched.content[:3] == b"\xff\xd8\xff"
    assert fetched.headers["Content-Type"] == "image/jpeg"
    tampered = image.media_urls[0].replace("sig=", "sig=0")
    assert requests.get(tampered, timeout=5).status_code == 403


def test_nothing_found_is_a_friendly_answer(alice_app, openai_server, twilio_server):
    openai_server.on(r"mostre fotos de girafa", tool("search_images", query="girafa"))
    alice_app.send(ALICE, "mostre fotos de girafa")
    assert "Não encontrei fotos" in twilio_server.wait_for(1, timeout=15)[0].body


def test_a_forged_media_url_on_another_host_never_gets_credentials(alice_app, twilio_server, openai_server):
    from tests.fakes.twilio_server import FakeTwilio
    other = FakeTwilio("ACother", "other-token").start()
    try:
        forged = other.add_media(None, make_jpeg(), "image/jpeg")
        alice_app.send(ALICE, "olha isso", media=[(forged, "image/jpeg")])
        reply = twilio_server.wait_for(1, timeout=15)[0].body
        assert other.requests() == []
        assert _count(alice_app, MediaObject) == 0
        assert "Eco:" in reply
        assert "aviso do sistema" in message_text(openai_server.chat_requests()[-1]["messages"][-1])
    finally:
        other.stop()


@pytest.mark.parametrize("make, declared, expected", [
    (make_png, "audio/ogg", "não é do tipo"),
    (make_large_png, "image/png", "grande"),
    (lambda: b"", "image/jpeg", "vazio"),
])
def test_bad_files_each_get_a_clear_reply(make_live_app, twilio_server, make, declared, expected):
    live = make_live_app(with_model=False)
    make_user(live.services.db, ALICE)
    live.send(ALICE, "", media=[(twilio_server.add_media(None, make(), declared), declared)])
    reply = twilio_server.wait_for(1, timeout=20)[0].body
    assert expected in reply.lower()
    assert _count(live, MediaObject) == 0


def test_a_voice_note_reaches_the_model_as_the_users_text(alice_app, openai_server, twilio_server):
    openai_server.transcript_text = "quero ver as fotos da praia"
    openai_server.on(r"áudio transcrito.*fotos da praia", say("Vou procurar as fotos da praia!"))
    alice_app.send(ALICE, "", media=[(twilio_server.add_media(None, voice_note("ogg"), "audio/ogg"), "audio/ogg")])
    assert twilio_server.wait_for(1, timeout=15)[0].body == "Vou procurar as fotos da praia!"
    upload = openai_server.transcriptions[0]
    assert b"OggS" in upload["body"] and b"whisper-1" in upload["body"]
    last_user = openai_server.chat_requests()[-1]["messages"][-1]
    assert message_text(last_user) == "[áudio transcrito] quero ver as fotos da praia"


def test_whisper_failing_tells_the_user_and_keeps_the_audio(alice_app, openai_server, twilio_server):
    openai_server.transcript_status = 500
    alice_app.send(ALICE, "", media=[(twilio_server.add_media(None, voice_note("ogg"), "audio/ogg"), "audio/ogg")])
    reply = twilio_server.wait_for(1, timeout=30)[0].body
    assert "Não consegui transcrever" in reply or "transcrever" in reply
    with alice_app.services.db.session() as session:
        audio = session.scalars(select(MediaObject)).one()
    assert audio.kind == "audio" and audio.transcript is None and audio.transcript_error
    assert alice_app.services.media.get(audio.key)[:4] == b"OggS"
    openai_server.transcript_status = None
    openai_server.on(r"transcrev", tool("transcribe_audio"))
    alice_app.send(ALICE, "pode transcrever meu último áudio?")
    later = twilio_server.wait_for(2, timeout=15)[1].body
    assert "transcrição de teste" in later


def test_without_a_model_captions_and_searches_still_work(make_live_app, twilio_server):
    live = make_live_app(with_model=False)
    make_user(live.services.db, ALICE)
    live.send(ALICE, "pôr do sol na praia", media=[_photo(twilio_server)])
    assert "Salvei sua foto" in twilio_server.wait_for(1, timeout=15)[0].body
    live.send(ALICE, "mostre fotos de praias")
    sent = twilio_server.wait_for(3, timeout=15)
    assert sent[2].media_urls and sent[2].body == "pôr do sol na praia"
    assert requests.get(sent[2].media_urls[0], timeout=5).status_code == 200


def test_photos_need_a_login(live_app, twilio_server, openai_server):
    openai_server.on(r"1 foto", tool("save_image", description="praia"))
    live_app.send(ALICE, "praia", media=[_photo(twilio_server)])
    reply = twilio_server.wait_for(1, timeout=15)[0].body
    assert "login" in reply.lower() or "cadastr" in reply.lower()
    assert _descriptions(live_app) == []


def test_transcript_photo_question_description_search(alice_app, openai_server, twilio_server):
    """The original document's flow as one dialogue (printed with -s for the issue's closing note)."""
    from tests.e2e.conversation import Conversation
    openai_server.on(r"^Descreva as fotos", say("um gato dormindo no sofá"))
    openai_server.on(r"mostre fotos de gato", tool("search_images", query="gato"))
    chat = Conversation(alice_app, twilio_server, ALICE)
    chat.say("", media=[_photo(twilio_server, make_jpeg("gato"))])
    chat.transcript[0] = ("usuário", "📷 (foto sem legenda)")
    chat.say("sim")
    reply = chat.say("mostre fotos de gato")
    image = twilio_server.messages(to=f"whatsapp:{ALICE}")[-1]
    fetched = requests.get(image.media_urls[0], timeout=5)
    print("\n" + chat.render() + f"\n[imagem recebida: {image.media_urls[0].split('?')[0]} "
          f"-> HTTP {fetched.status_code}, {len(fetched.content)} bytes, {fetched.headers['Content-Type']}]")
    assert "Encontrei 1 foto" in reply and image.body == "um gato dormindo no sofá"
    assert fetched.status_code == 200


def test_the_dashboard_shows_a_small_copy_and_links_the_photo_itself(alice_app, openai_server, twilio_server):
    from io import BytesIO

    from PIL import Image

    original = make_jpeg("praia grande", size=(1600, 1200))
    openai_server.on(r"1 foto.*praia grande", tool("save_image", description="praia grande"))
    alice_app.send(ALICE, "praia grande", media=[_photo(twilio_server, original)])
    twilio_server.wait_for(1, to=f"whatsapp:{ALICE}", timeout=15)
    [image] = requests.get(alice_app.url + "/get-report-data", timeout=10).json()["images"]["items"][0]["images"]
    full = requests.get(alice_app.url + image["url"], timeout=10).content
    small = requests.get(alice_app.url + image["thumbnail_url"], timeout=10).content
    assert full == original
    assert Image.open(BytesIO(small)).size == (320, 240) and len(small) < len(original) / 3
    page = requests.get(alice_app.url + "/report", timeout=10).text
    # The page is signed a moment after the JSON: the same paths, with their own expiry and signature.
    assert f'<a href="{image["url"].split("?")[0]}?exp=' in page
    assert f'<img src="{image["thumbnail_url"].split("?")[0]}?exp=' in page


def test_photos_from_before_thumbnails_get_them_from_the_backfill_command(live_app, openai_server, twilio_server):
    from io import BytesIO

    from PIL import Image

    from storage import images

    db, media = live_app.services.db, live_app.services.media
    old = "images/5511999990001/2026/11/antiga.png"
    media.put(old, make_png("antiga", size=(900, 600)), "image/png")
    kept = images.add_media(db, ALICE, images.IMAGE, old, "image/png", 10)
    gone = images.add_media(db, ALICE, images.IMAGE, "images/5511999990001/2026/11/sumiu.jpg", "image/jpeg", 10)
    images.save_description(db, ALICE, "foto antiga", [kept, gone])
    run = live_app.app.test_cli_runner().invoke(args=["make-thumbnails"])
    assert run.exit_code == 0 and "1 thumbnail(s) made; 1 photo(s) skipped" in run.output
    [row], _ = images.list_descriptions(db, owner=ALICE)
    thumb = row.thumbnail_keys[0]
    assert thumb == "thumbs/5511999990001/2026/11/antiga.jpg" and row.thumbnail_keys[1] == row.image_keys[1]
    assert Image.open(BytesIO(media.get(thumb))).size == (320, 213)
    again = live_app.app.test_cli_runner().invoke(args=["make-thumbnails"])
    assert "0 thumbnail(s) made; 1 photo(s) skipped" in again.output, "done once; the missing file is still missing"
