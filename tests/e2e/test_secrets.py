"""After a scripted registration and logins (asked for, and typed in one message), the passwords are
searched for in every store: found nowhere."""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import inspect, text

from storage import ledger
from tests.e2e.backends import BACKENDS, mongo_bodies, store_overrides
from tests.e2e.conversation import Conversation
from tests.factories import make_user
from tests.fixtures.databases import blips, fail_once
from tests.fakes.openai_server import tool

pytestmark = pytest.mark.slow
ALICE = "+5511999990001"
CPF = "529.982.247-25"
PASSWORD = "Pa55-girassol-azul-SECRETO"
WRONG_PASSWORD = "errei-a-senha-OUTRO-SEGREDO"
INLINE_WRONG = "digitei-junto-TERCEIRO-SEGREDO"


def _register_and_log_in(chat: Conversation, openai_server) -> None:
    openai_server.on(r"N[ÃA]O POSSUO CADASTRO", tool("register_user"))
    openai_server.on(r"sair da conta", tool("logout"))
    openai_server.on(r"^entrar$", tool("login"))
    openai_server.on(r"organizar", tool("make_todo_list", title="Semana", items=["correr", "ler"],
                                        motivation="Um passo de cada vez!"))
    chat.say("NÃO POSSUO CADASTRO")
    chat.say("Ana Souza")
    chat.say(CPF)
    assert "Cadastro concluído" in chat.say(PASSWORD)
    assert "saiu" in chat.say("sair da conta")
    chat.say("entrar")
    chat.say(CPF)
    assert "incorretos" in chat.say(WRONG_PASSWORD)
    chat.say("entrar")
    chat.say(CPF)
    assert "Login feito" in chat.say(PASSWORD)
    assert "correr" in chat.say("me ajuda a organizar a semana")
    chat.say("obrigada!")
    assert "saiu" in chat.say("sair da conta")
    assert "incorretos" in chat.say(f"login {CPF} {INLINE_WRONG}")
    assert "Login feito" in chat.say(f"login {CPF} {PASSWORD}")
    assert "trazia uma senha" in chat.say(f"minha senha é {PASSWORD}, anota aí")


def _sql_dump(live) -> str:
    """Every row of every table of the application database, as text."""
    engine = live.services.db.engine
    parts = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            parts += [repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{table}"'))]
    return "\n".join(parts)


def _session_dump(live) -> str:
    """Every row of every table of agno's session database (the agent's memory): the SQLite file read
    directly, or its schema in PostgreSQL (the default when DATABASE_URL is PostgreSQL)."""
    session_db = live.services.session_db
    if session_db.db_engine.dialect.name == "postgresql":
        schema = session_db.db_schema
        with session_db.db_engine.connect() as conn:
            tables = inspect(conn).get_table_names(schema=schema)
            return "\n".join(repr(tuple(row)) for t in tables
                             for row in conn.execute(text(f'SELECT * FROM "{schema}"."{t}"')))
    conn = sqlite3.connect(live.config.session_db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
    finally:
        conn.close()


def _dashboard(live) -> dict[str, str]:
    pages = {}
    for route in ("/report", "/get-report-data"):
        response = requests.get(live.url + route, timeout=10)
        if response.status_code != 404:
            assert response.status_code == 200, route
            pages[route] = response.text
    return pages


def _files(data_dir: Path) -> str:
    """The raw bytes of every file the assistant wrote under DATA_DIR (SQLite files, WAL, sessions, media)."""
    return "\n".join(f.read_bytes().decode("latin-1") for f in sorted(data_dir.rglob("*")) if f.is_file())


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_password_is_in_no_store(backend, request, make_live_app, openai_server, twilio_server, caplog):
    caplog.set_level(logging.DEBUG)
    env = store_overrides(request, backend)
    live = make_live_app(LOG_LEVEL="DEBUG", **env)
    chat = Conversation(live, twilio_server, ALICE)
    _register_and_log_in(chat, openai_server)
    live.wait_idle()
    print("\n" + chat.render())
    chatlog = live.services.chatlog.list(phone=ALICE, per_page=500)
    stores = {
        "SQL tables": _sql_dump(live),
        "chat log": "\n".join(m.body for m in chatlog.items),
        **({"MongoDB chat_log documents": "\n".join(mongo_bodies(request, env))} if "MONGODB_URI" in env else {}),
        "files under DATA_DIR": _files(live.config.data_dir),
        "session DB rows": _session_dump(live),
        "model requests": json.dumps(openai_server.chat_requests(), ensure_ascii=False),
        "log output": caplog.text + "\n".join(str(r.args) for r in caplog.records),
        "replies sent": "\n".join(m.body for m in twilio_server.messages()),
        **{f"dashboard {route}": page for route, page in _dashboard(live).items()},
    }
    assert len(chatlog.items) == len(chat.transcript) and "[senha]" in stores["chat log"]
    assert "Semana" in stores["session DB rows"], "the session DB was written (the search is not vacuous)"
    assert len(openai_server.chat_requests()) >= 5
    found = {name: [s for s in (PASSWORD, WRONG_PASSWORD, INLINE_WRONG) if s in content] for name, content in stores.items()}
    print(f"\npassword search ({backend}):", {name: ("FOUND" if hits else "absent") for name, hits in found.items()})
    assert found == {name: [] for name in stores}
    model_text = stores["model requests"]
    assert CPF not in model_text and "52998224725" not in model_text
    assert CPF not in stores["chat log"] and CPF not in stores["log output"]


def assert_kept_out_everywhere(live, openai_server, twilio_server) -> None:
    """The password is in no model request, reply, chat-log line or ledger body."""
    assert PASSWORD not in json.dumps(openai_server.chat_requests())
    replies = [m.body for m in twilio_server.messages(to=f"whatsapp:{ALICE}")]
    assert PASSWORD not in "\n".join(replies + [m.body for m in live.services.chatlog.list(ALICE).items])
    with live.services.db.engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM inbound_messages ORDER BY id")).scalars().all()
    rows = [ledger.get_entry(live.services.db, entry_id) for entry_id in ids]
    assert PASSWORD not in str([row.body for row in rows])
    assert (rows[-1].body, rows[-1].status) == ("[senha]", "done")


def _up_to_the_password(live, openai_server, twilio_server) -> Conversation:
    openai_server.on(r"N[ÃA]O POSSUO CADASTRO", tool("register_user"))
    chat = Conversation(live, twilio_server, ALICE)
    chat.say("NÃO POSSUO CADASTRO")
    chat.say("Ana Souza")
    assert "senha" in chat.say(CPF)
    return chat


def _password_step_failed_once(live, chat: Conversation, openai_server, twilio_server, replies: int) -> None:
    """Send the password into a step the database fails once: answered, not retried, kept out."""
    assert "Não consegui concluir" in chat.say(PASSWORD)
    time.sleep(1.5)  # longer than the dispatcher's pause before a retry
    assert len(twilio_server.messages(to=f"whatsapp:{ALICE}")) == replies, "one reply per message, no retry"
    assert blips(live) == 1, "the blip happened"
    assert_kept_out_everywhere(live, openai_server, twilio_server)


def test_a_database_blip_at_the_password_redaction_neither_retries_the_turn_nor_leaks_the_password(
        make_live_app, fresh_pg_url, openai_server, twilio_server):
    """The ledger refuses the password's redaction once: the worker tries the redaction again
    instead of running the turn again, which would hand the password, now outside any dialogue,
    to the model."""
    live = make_live_app(DATABASE_URL=fresh_pg_url)
    fail_once(live, "inbound_messages", "UPDATE", "NEW.body IS DISTINCT FROM OLD.body")
    chat = _up_to_the_password(live, openai_server, twilio_server)
    assert "Cadastro concluído" in chat.say(PASSWORD)
    time.sleep(1.5)  # longer than the dispatcher's pause before a retry
    replies = [m.body for m in twilio_server.messages(to=f"whatsapp:{ALICE}")]
    assert len(replies) == 4 and "Cadastro concluído" in replies[-1], "one reply per message, no retry"
    assert blips(live) >= 2, "the blip happened"
    assert_kept_out_everywhere(live, openai_server, twilio_server)


def test_a_database_blip_inside_the_password_step_answers_the_turn_instead_of_retrying_it(
        make_live_app, fresh_pg_url, openai_server, twilio_server):
    """Creating the account fails once, after the dialogue was closed: a retry would find no dialogue
    and give the password to the model. The turn is answered instead, and registering again works."""
    live = make_live_app(DATABASE_URL=fresh_pg_url)
    fail_once(live, "users", "INSERT", "true")
    chat = _up_to_the_password(live, openai_server, twilio_server)
    _password_step_failed_once(live, chat, openai_server, twilio_server, replies=4)
    chat.say("NÃO POSSUO CADASTRO")
    chat.say("Ana Souza")
    chat.say(CPF)
    assert "Cadastro concluído" in chat.say(PASSWORD)


def test_a_database_blip_inside_the_login_password_step_answers_the_turn_instead_of_retrying_it(
        make_live_app, fresh_pg_url, openai_server, twilio_server):
    """Recording the login attempt fails once, after the login dialogue was closed."""
    live = make_live_app(DATABASE_URL=fresh_pg_url)
    make_user(live.services.db, ALICE, name="Ana Souza", cpf=CPF, password=PASSWORD, logged_in=False)
    fail_once(live, "logins", "INSERT", "true")
    openai_server.on(r"^entrar$", tool("login"))
    chat = Conversation(live, twilio_server, ALICE)
    chat.say("entrar")
    assert "senha" in chat.say(CPF)
    _password_step_failed_once(live, chat, openai_server, twilio_server, replies=3)
    chat.say("entrar")
    chat.say(CPF)
    assert "Login feito" in chat.say(PASSWORD)
