"""LGPD end to end: export as an expiring JSON link, and confirmed erasure of everything of one user."""
from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import func, select

from agent.memory import memory_status
from storage import todos, users
from storage.models import ImageDescription, InboundMessage, Login, MediaObject
from tests.e2e.conversation import Conversation
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.fakes.openai_server import say, tool
from tests.fixtures.media import make_jpeg

pytestmark = pytest.mark.slow
ALICE, BOB = "+5511999990001", "+5511999990002"


def _owned(live, model, column, phone) -> int:
    with live.services.db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(column == phone))


@pytest.fixture
def alice_with_data(live_app, openai_server, twilio_server):
    """Alice and Bob, each with a list, a saved photo and some conversation (Alice also in session memory)."""
    for phone, name in ((ALICE, "Ana Teste"), (BOB, "Bob Teste")):
        make_user(live_app.services.db, phone, name=name)
        todos.create_list(live_app.services.db, phone, f"Lista de {name}", ["um passo"])
        chat = Conversation(live_app, twilio_server, phone)
        openai_server.on(r"foto.*praia", tool("save_image", description=f"praia de {name}"))
        chat.say("minha foto na praia", media=[(twilio_server.add_media(None, make_jpeg(), "image/jpeg"),
                                                "image/jpeg")])
    return live_app


def _stored_files(live) -> list[str]:
    """`<folder>/<owner digits>` of every photo file in the local media store (thumbnails included)."""
    root = live.config.media_dir
    return ["/".join(path.relative_to(root).parts[:2]) for path in root.rglob("*.jpg")]


def test_export_is_a_json_link_with_only_my_data_that_expires(alice_with_data, openai_server, twilio_server):
    from datetime import timedelta

    from common.clock import utcnow
    from tools.privacy import export_key

    live = alice_with_data
    expired = export_key(BOB, utcnow() - timedelta(hours=2))
    live.services.media.put(expired, b"{}", "application/json")
    openai_server.on(r"exportar", tool("export_my_data"))
    reply = Conversation(live, twilio_server, ALICE).say("quero exportar meus dados")
    [kept] = live.services.media.keys("exports/")
    assert kept.startswith("exports/5511999990001/") and kept in reply, "the expired export of Bob is gone"
    url = reply.split("JSON): ", 1)[1].split()[0]
    data = requests.get(url, timeout=10).json()
    assert data["account"]["name"] == "Ana Teste" and data["account"]["cpf"].startswith("***.")
    assert [t["title"] for t in data["todo_lists"]] == ["Lista de Ana Teste"]
    assert [i["description"] for i in data["images"]] == ["praia de Ana Teste"]
    assert requests.get(data["images"][0]["links"][0], timeout=10).content[:3] == b"\xff\xd8\xff"
    assert any("minha foto na praia" in m["text"] for m in data["messages"])
    text = str(data)
    assert "Bob" not in text and DEFAULT_PASSWORD not in text and "argon2" not in text
    expired = url.split("?")[0] + f"?exp={int(time.time()) - 1}&" + url.split("&", 1)[1]
    assert requests.get(expired, timeout=10).status_code == 403


def test_export_holds_everything_however_much_there_is(alice_with_data, openai_server, twilio_server):
    from storage.seed import NewDescription, bulk_insert_descriptions
    from tests.fixtures.media import voice_note

    live = alice_with_data
    bulk_insert_descriptions(live.services.db, (NewDescription(ALICE, f"foto antiga {i}",
                                                               image_keys=(f"images/5511999990001/old/{i}.jpg",))
                                                for i in range(250)))
    for i in range(12):
        todos.create_list(live.services.db, ALICE, f"Lista extra {i}", ["item"])
    openai_server.transcript_text = "lembrar de comprar pão integral"
    openai_server.on(r"comprar pão", say("Anotado!"))
    chat = Conversation(live, twilio_server, ALICE)
    chat.say("", media=[(twilio_server.add_media(None, voice_note("ogg"), "audio/ogg"), "audio/ogg")])
    chat.say("", media=[(twilio_server.add_media(None, make_jpeg("sem legenda"), "image/jpeg"), "image/jpeg")])
    openai_server.on(r"exportar", tool("export_my_data"))
    url = chat.say("quero exportar meus dados").split("JSON): ", 1)[1].split()[0]
    data = requests.get(url, timeout=10).json()
    assert len(data["images"]) == 251 and len(data["todo_lists"]) == 13
    files = data["files"]
    assert [f["kind"] for f in files] == ["image", "audio", "image"], "the described photo, the voice note, the waiting one"
    assert files[1]["transcript"] == "lembrar de comprar pão integral"
    assert requests.get(files[2]["link"], timeout=10).content[:3] == b"\xff\xd8\xff"
    remembered = [m["text"] for m in data["assistant_memory"]]
    assert any("minha foto na praia" in text for text in remembered) and "Anotado!" in remembered
    assert "Bob" not in str(data)


def test_erasure_is_confirmed_and_removes_everything_of_one_user(alice_with_data, openai_server, twilio_server):
    live = alice_with_data
    openai_server.on(r"apagar meus dados", tool("delete_my_data"))
    chat = Conversation(live, twilio_server, ALICE)
    assert "Para confirmar, envie *APAGAR*" in chat.say("quero apagar meus dados")
    assert "nada foi apagado" in chat.say("não, deixa")
    assert users.get_user_by_phone(live.services.db, ALICE) is not None
    openai_server.on(r"exportar", tool("export_my_data"))
    assert "JSON" in chat.say("quero exportar meus dados")
    chat.say("quero apagar meus dados")
    assert len(_stored_files(live)) == 4, "a photo and its thumbnail each, of Alice and of Bob"
    assert len(live.services.media.keys("exports/5511999990001/")) == 1
    done = chat.say("APAGAR")
    print("\n" + chat.render())
    assert "apaguei sua conta, 1 lista(s), 1 arquivo(s)" in done
    db = live.services.db
    assert users.get_user_by_phone(db, ALICE) is None and todos.count_lists(db, ALICE) == 0
    assert _owned(live, Login, Login.phone, ALICE) == 0
    assert _owned(live, ImageDescription, ImageDescription.from_number, ALICE) == 0
    assert _owned(live, MediaObject, MediaObject.owner, ALICE) == 0
    assert sorted(_stored_files(live)) == sorted(f"{folder}/{BOB.lstrip('+')}" for folder in ("images", "thumbs"))
    assert live.services.media.keys("exports/") == [], "the export, a copy of everything, went too"
    assert memory_status(live.runtime.assistant.session_db, ALICE) is None
    with db.session() as session:
        bodies = session.scalars(select(InboundMessage.body).where(InboundMessage.sender == ALICE)).all()
    assert set(bodies) == {""}, "the ledger keeps only the MessageSids"
    assert live.services.chatlog.count(ALICE) <= 2, "only the confirmation exchange itself is logged"
    assert users.get_user_by_phone(db, BOB) and todos.count_lists(db, BOB) == 1
    assert _owned(live, MediaObject, MediaObject.owner, BOB) == 1 and live.services.chatlog.count(BOB) == 2
    assert "NÃO POSSUO CADASTRO" in Conversation(live, twilio_server, ALICE).say("apagar meus dados")


def test_privacy_commands_without_a_model(make_live_app, twilio_server):
    live = make_live_app(with_model=False)
    make_user(live.services.db, ALICE)
    chat = Conversation(live, twilio_server, ALICE)
    assert "JSON): http" in chat.say("exportar meus dados")
    assert "APAGAR" in chat.say("apagar meus dados")
    assert "apaguei sua conta" in chat.say("apagar")
    assert users.get_user_by_phone(live.services.db, ALICE) is None
