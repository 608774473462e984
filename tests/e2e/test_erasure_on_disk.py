"""LGPD erasure down to the disk on the embedded defaults: after "apagar meus dados" no file under
DATA_DIR (app.db, sessions.db, their -wal and -shm, the media folder, anything else) holds a byte of
the erased text. Deleted rows are overwritten (secure_delete) and the WAL files, which keep old page
versions, are checkpointed and truncated."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.memory import session_messages
from common.ptstem import lexemes
from common.textfold import fold
from storage import todos
from tests.e2e.conversation import Conversation
from tests.factories import make_user
from tests.fakes.openai_server import say, tool
from tests.fixtures.media import make_jpeg

pytestmark = pytest.mark.slow
ALICE, BOB = "+5511999990001", "+5511999990002"
MARKER = "Zumbrântica Quixabeiral"  # in no prompt, fixture or code: found only where Alice's data is


def needles() -> list[bytes]:
    """The marker as stored anywhere: raw, lower-cased, folded (the chat log's search column), as JSON
    escapes it (agno's stored runs) and the stems the SQLite image search indexes."""
    words = [MARKER, MARKER.lower(), fold(MARKER), *MARKER.split(), *fold(MARKER).split(), *lexemes(MARKER)]
    words += [json.dumps(word)[1:-1] for word in list(words)]
    return sorted({word.encode("utf-8") for word in words})


def files_holding_the_marker(data_dir: Path) -> dict[str, list[bytes]]:
    """Every file under `data_dir` whose bytes hold one of the needles, with the needles found."""
    found = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        content = path.read_bytes()
        hits = [needle for needle in needles() if needle in content]
        if hits:
            found[str(path.relative_to(data_dir))] = hits
    return found


def secure_delete(engine) -> int:
    """The secure_delete setting of a pooled connection of `engine` (1: deleted content is zeroed)."""
    with engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA secure_delete").scalar()


def test_after_erasure_no_file_under_data_dir_holds_the_erased_text(live_app, openai_server, twilio_server):
    live = live_app
    data_dir = live.config.data_dir
    assert secure_delete(live.services.db.engine) == 1 and secure_delete(live.services.session_db.db_engine) == 1
    make_user(live.services.db, ALICE)
    make_user(live.services.db, BOB, name="Bob Teste")
    alice, bob = Conversation(live, twilio_server, ALICE), Conversation(live, twilio_server, BOB)
    openai_server.on(r"organizar", tool("make_todo_list", title=f"Plano {MARKER}",
                                        items=[f"Regar a {MARKER}", "Comprar adubo"],
                                        motivation=f"Sua {MARKER} vai crescer!"),
                     say(f"Pronto, sua lista da {MARKER} está salva."))
    assert "lista" in alice.say(f"me ajude a organizar o cuidado da {MARKER}")
    openai_server.on(r"foto", tool("save_image", description=f"a {MARKER} florida"), say("Foto guardada!"))
    alice.say("guarde esta foto", media=[(twilio_server.add_media(None, make_jpeg(), "image/jpeg"), "image/jpeg")])
    openai_server.on(r"lembra", say(f"Claro, a {MARKER} precisa de sol."))
    alice.say(f"você lembra da {MARKER}?")
    openai_server.on(r"minha semana", tool("make_todo_list", title="Semana do Bob", items=["Descansar"]),
                     say("Lista feita."))
    bob.say("bom dia, quero organizar minha semana")
    assert any(MARKER in m.content for m in session_messages(live.services.session_db, ALICE))
    assert todos.count_lists(live.services.db, ALICE) == 1
    before = files_holding_the_marker(data_dir)
    assert any(name.startswith("app.db") for name in before), before
    assert any(name.startswith("sessions.db") for name in before), before

    openai_server.on(r"apagar meus dados", tool("delete_my_data"))
    assert "APAGAR" in alice.say("quero apagar meus dados")
    assert "apaguei sua conta" in alice.say("APAGAR")

    assert files_holding_the_marker(data_dir) == {}
    assert todos.count_lists(live.services.db, BOB) == 1, "Bob's data stays"
    assert bob.say("bom dia de novo") and session_messages(live.services.session_db, BOB)
