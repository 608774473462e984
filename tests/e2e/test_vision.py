"""Issue 22 end to end: the model sees each photo once (small copy, detail low), a photo alone always
gets the question (with the model's suggestion), and photos are found by what the model saw.

Every request the real openai client and agno send is recorded by the scripted server, so the tests
read the image parts actually sent.
"""
from __future__ import annotations

import base64
from io import BytesIO

import pytest
import requests
from PIL import Image
from sqlalchemy import func, select

from storage.models import ImageDescription, MediaObject
from tests.factories import make_user
from tests.fakes.openai_server import image_parts, refuse, say, tool
from tests.fixtures.media import make_jpeg

pytestmark = pytest.mark.slow
ALICE = "+5511999990001"
VISION = r"^Descreva as fotos"
CAT = "um gato dormindo no sofá"
ASK = "Recebi sua foto! Me diga uma descrição para eu guardar"


@pytest.fixture
def alice(live_app):
    make_user(live_app.services.db, ALICE)
    return live_app


def _photo(twilio_server, data: bytes | None = None) -> tuple[str, str]:
    return twilio_server.add_media(None, data or make_jpeg("gato", size=(1200, 900)), "image/jpeg"), "image/jpeg"


def _send(live, twilio_server, text: str, media=None) -> str:
    before = len(twilio_server.messages(to=f"whatsapp:{ALICE}"))
    live.send(ALICE, text, media=media)
    sent = twilio_server.wait_for(before + 1, to=f"whatsapp:{ALICE}", timeout=30)
    live.wait_idle()
    return "\n".join(m.body for m in twilio_server.messages(to=f"whatsapp:{ALICE}")[before:] if m.body)


def _rows(live, model) -> list:
    with live.services.db.session() as session:
        return session.scalars(select(model).order_by(model.id)).all()


def test_a_photo_turn_shows_the_small_copy_at_low_detail_and_questions_are_answered_from_it(
        alice, openai_server, twilio_server):
    openai_server.on(VISION, say("recibo do mercado, total R$ 45,90"))
    openai_server.on(r"anexada.*quanto deu esse recibo", say("Deu R$ 45,90."))
    reply = _send(alice, twilio_server, "quanto deu esse recibo?", media=[_photo(twilio_server)])
    assert reply == "Deu R$ 45,90."
    vision, agent = openai_server.chat_requests()
    for body in (vision, agent):
        [part] = image_parts(body)
        assert part["image_url"]["detail"] == "low"
        prefix, data = part["image_url"]["url"].split(",", 1)
        assert prefix == "data:image/jpeg;base64"
        assert max(Image.open(BytesIO(base64.b64decode(data))).size) == 320, "the thumbnail, not the 1200 px photo"
    assert vision.get("tools") is None and agent["tools"], "vision is its own small call, the agent has its tools"
    [media] = _rows(alice, MediaObject)
    assert media.model_description == "recibo do mercado, total R$ 45,90"
    openai_server.on(r"e agora\?", say("Certo."))
    _send(alice, twilio_server, "e agora?")
    assert image_parts(openai_server.chat_requests()[-1]) == [], "the image is not replayed from memory"


def test_a_photo_alone_is_one_model_call_the_question_with_the_suggestion_and_sim_saves_it(
        alice, openai_server, twilio_server):
    openai_server.on(VISION, say(CAT))
    reply = _send(alice, twilio_server, "", media=[_photo(twilio_server)])
    assert reply == (f"Recebi sua foto! Parece *{CAT}*. Guardo com essa descrição? "
                     "Responda *sim* ou envie outra descrição.")
    assert len(openai_server.chat_requests()) == 1
    assert "Eco" not in reply and "foto(s) recebida" not in reply
    assert _rows(alice, ImageDescription) == []
    assert "Salvei sua foto" in _send(alice, twilio_server, "sim")
    [row] = _rows(alice, ImageDescription)
    assert (row.descricao, row.model_description) == (CAT, CAT)
    assert len(openai_server.chat_requests()) == 1, "the answer is the server's: no model call"


def test_another_answer_is_the_description_and_the_models_stays_beside_it(alice, openai_server, twilio_server):
    openai_server.on(VISION, say(CAT))
    _send(alice, twilio_server, "", media=[_photo(twilio_server)])
    assert "Salvei sua foto" in _send(alice, twilio_server, "Mingau na sala")
    [row] = _rows(alice, ImageDescription)
    assert (row.descricao, row.model_description) == ("Mingau na sala", CAT)


def test_a_request_after_the_question_goes_to_the_model_with_what_waits(alice, openai_server, twilio_server):
    openai_server.on(VISION, say(CAT))
    openai_server.on(r"aguardando descrição \(a IA viu: um gato.*quero ver minhas listas", say("Você não tem listas."))
    _send(alice, twilio_server, "", media=[_photo(twilio_server)])
    assert _send(alice, twilio_server, "quero ver minhas listas") == "Você não tem listas."
    assert _rows(alice, ImageDescription) == []


def test_vision_off_or_a_stranger_sends_no_image_to_the_model(make_live_app, openai_server, twilio_server):
    live = make_live_app(VISION="off")
    make_user(live.services.db, ALICE)
    openai_server.on(r"1 foto.*praia", tool("save_image", description="praia"))
    assert "Salvei sua foto" in _send(live, twilio_server, "praia", media=[_photo(twilio_server)])
    assert ASK in _send(live, twilio_server, "", media=[_photo(twilio_server)])
    assert [len(image_parts(body)) for body in openai_server.chat_requests()] == [0, 0]


def test_photos_of_someone_not_logged_in_never_reach_the_model(live_app, openai_server, twilio_server):
    make_user(live_app.services.db, ALICE, logged_in=False)
    reply = _send(live_app, twilio_server, "", media=[_photo(twilio_server)])
    assert "login" in reply and openai_server.chat_requests() == []
    openai_server.on(r"1 foto.*praia", say("Entre na sua conta primeiro."))
    _send(live_app, twilio_server, "praia", media=[_photo(twilio_server)])
    [body] = openai_server.chat_requests()
    assert image_parts(body) == []
    assert len(_rows(live_app, MediaObject)) == 2, "both photos are kept"


@pytest.mark.parametrize("failure", ["500", "timeout", "refusal", "corrupt"])
def test_vision_failing_still_keeps_the_photo_and_asks(make_live_app, openai_server, twilio_server, failure):
    live = make_live_app(OPENAI_TIMEOUT="1")
    make_user(live.services.db, ALICE)
    if failure == "500":
        openai_server.on(VISION, status=500)
    elif failure == "timeout":
        openai_server.on(VISION, say(CAT), delay=3)
    elif failure == "refusal":
        openai_server.on(VISION, refuse())
    corrupt = b"\xff\xd8\xff\xe0" + b"\x00" * 2000  # JPEG magic bytes, no picture
    reply = _send(live, twilio_server, "", media=[_photo(twilio_server, corrupt if failure == "corrupt" else None)])
    assert reply.startswith(ASK) and "Parece" not in reply
    [media] = _rows(live, MediaObject)
    assert media.model_description is None and live.services.media.get(media.key)
    if failure == "corrupt":
        assert openai_server.chat_requests() == [], "no small copy: nothing is sent to the model"
    assert "Salvei sua foto" in _send(live, twilio_server, "gato no sofá")


def test_found_by_a_word_only_the_model_saw_ranked_below_its_own_words(alice, openai_server, twilio_server):
    openai_server.on(VISION + r"(?s:.)*", say("cachorro correndo na areia"))
    openai_server.on(r"1 foto.*viagem de férias", tool("save_image", description="viagem de férias"))
    _send(alice, twilio_server, "viagem de férias", media=[_photo(twilio_server, make_jpeg("a"))])
    openai_server.reset()
    openai_server.on(VISION, say("animal marrom deitado"))
    openai_server.on(r"1 foto.*meu cachorro", tool("save_image", description="meu cachorro"))
    _send(alice, twilio_server, "meu cachorro", media=[_photo(twilio_server, make_jpeg("b"))])
    openai_server.on(r"mostre fotos de cachorro", tool("search_images", query="cachorro"))
    before = len(twilio_server.messages(to=f"whatsapp:{ALICE}"))
    _send(alice, twilio_server, "mostre fotos de cachorro")
    sent = twilio_server.messages(to=f"whatsapp:{ALICE}")[before:]
    assert "Encontrei 2 foto" in sent[0].body
    assert [m.body for m in sent[1:]] == ["meu cachorro", "viagem de férias"], "own words first, the model's below"
    assert "areia" not in str([m.body for m in sent]), "the caption sent is the user's description"


def test_export_carries_the_models_descriptions_and_erasure_removes_them(alice, openai_server, twilio_server):
    openai_server.on(VISION, say(CAT))
    _send(alice, twilio_server, "", media=[_photo(twilio_server)])
    _send(alice, twilio_server, "sim")
    _send(alice, twilio_server, "", media=[_photo(twilio_server, make_jpeg("outra"))])
    openai_server.on(r"exportar", tool("export_my_data"))
    url = _send(alice, twilio_server, "exportar meus dados").split("JSON): ", 1)[1].split()[0]
    data = requests.get(url, timeout=10).json()
    assert [i["model_description"] for i in data["images"]] == [CAT]
    assert [f["model_description"] for f in data["files"]] == [CAT, CAT], "the waiting photo's too"
    openai_server.on(r"apagar meus dados", tool("delete_my_data"))
    _send(alice, twilio_server, "apagar meus dados")
    _send(alice, twilio_server, "APAGAR")
    with alice.services.db.session() as session:
        left = [session.scalar(select(func.count()).select_from(m).where(m.model_description.is_not(None)))
                for m in (ImageDescription, MediaObject)]
    assert left == [0, 0]


def test_the_dashboard_shows_both_descriptions(alice, openai_server, twilio_server):
    openai_server.on(VISION, say(CAT))
    _send(alice, twilio_server, "", media=[_photo(twilio_server)])
    _send(alice, twilio_server, "Mingau")
    [item] = requests.get(alice.url + "/get-report-data", timeout=10).json()["images"]["items"]
    assert (item["description"], item["model_description"]) == ("Mingau", CAT)
    page = requests.get(alice.url + "/report", params={"q": "sofá"}, timeout=10).text
    assert "Mingau" in page and CAT in page, "found by the model's word, both shown"
