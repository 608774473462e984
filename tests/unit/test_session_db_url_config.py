"""SESSION_DB_URL: where agno's session memory lives, its default and its validation."""
from __future__ import annotations

import pytest

from agent.session_store import engine_url
from config import ConfigError, build_config

PG = "postgresql+psycopg2://bot@db.local:5432/whatsapp_bot"


def config(tmp_path, **env: str):
    return build_config({"DATA_DIR": str(tmp_path), "WORKER_MODE": "thread", **env})


def test_on_sqlite_the_memory_stays_in_the_session_db_file(tmp_path):
    assert config(tmp_path).session_store_url == f"sqlite:///{(tmp_path / 'sessions.db').resolve().as_posix()}"
    custom = tmp_path / "elsewhere" / "memory.db"
    assert config(tmp_path, SESSION_DB=str(custom)).session_store_url == f"sqlite:///{custom.resolve().as_posix()}"


def test_on_postgresql_the_memory_goes_to_the_application_database(tmp_path):
    assert config(tmp_path, DATABASE_URL=PG).session_store_url == PG
    assert config(tmp_path, DATABASE_URL="postgres://bot@db.local/app").session_store_url == \
        "postgresql://bot@db.local/app"


@pytest.mark.parametrize("database", ["sqlite:///app.db", PG])
def test_session_db_url_overrides_either_way(tmp_path, database):
    assert config(tmp_path, DATABASE_URL=database, SESSION_DB_URL="sqlite:////srv/memory.db").session_store_url == \
        "sqlite:////srv/memory.db"
    assert config(tmp_path, DATABASE_URL=database, SESSION_DB_URL="postgres://u:p@mem.local/agno").session_store_url \
        == "postgresql://u:p@mem.local/agno"


@pytest.mark.parametrize("bad", ["memory.db", "http://example.com/x", "sqlite://", "sqlite:///:memory:",
                                 "postgresql://h:notaport/db", "mysql://u@h/db"])
def test_a_bad_session_db_url_names_the_setting(tmp_path, bad):
    with pytest.raises(ConfigError, match="SESSION_DB_URL"):
        config(tmp_path, SESSION_DB_URL=bad)


def test_a_postgresql_url_without_a_driver_opens_with_psycopg2():
    assert engine_url("postgresql://u:p%40ss@h:5433/db") == "postgresql+psycopg2://u:p%40ss@h:5433/db"
    assert engine_url(PG) == PG and engine_url("sqlite:///x.db") == "sqlite:///x.db"
