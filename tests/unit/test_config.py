"""Config: SPEC section 8 names and defaults, POSTGRES_DB_* compatibility, errors that name the variable."""
from pathlib import Path

import pytest

from config import Config, ConfigError, build_config

SHARED = {"SECRET_KEY": "one-key-for-every-machine-0123", "BUCKET_NAME": "media"}


def test_defaults_are_the_embedded_ones(tmp_path):
    config = build_config({"DATA_DIR": str(tmp_path)})
    assert (config.host, config.port, config.history_runs, config.search_limit) == ("127.0.0.1", 5000, 5, 5)
    assert config.session_max_runs == 50
    assert config.database_url == f"sqlite:///{tmp_path.as_posix()}/app.db"
    assert config.session_db == tmp_path / "sessions.db"
    assert config.media_dir == tmp_path / "media"
    assert (config.openai_model, config.whisper_model) == ("gpt-4o", "whisper-1")
    assert config.twilio_api_base_url == "https://api.twilio.com"
    assert config.twilio_validate_signature is True and config.reply_mode == "rest"
    assert config.auth_ttl_hours == 720 and config.admin_token is None
    assert not config.openai_configured and not config.twilio_configured


def test_database_url_is_built_from_the_original_postgres_variables(tmp_path):
    config = build_config({"DATA_DIR": str(tmp_path), "POSTGRES_DB_HOST": "db.local", "POSTGRES_DB_PORT": "5433",
                           "POSTGRES_DB_NAME": "whatsapp_bot", "POSTGRES_DB_USER": "bot",
                           "POSTGRES_DB_PASSWORD": "p@ss:word", **SHARED})
    assert config.database_url == "postgresql+psycopg2://bot:p%40ss%3Aword@db.local:5433/whatsapp_bot"


def test_database_url_wins_over_postgres_variables(tmp_path):
    config = build_config({"DATA_DIR": str(tmp_path), "DATABASE_URL": "postgres://u@h/db",
                           "POSTGRES_DB_HOST": "ignored", "POSTGRES_DB_NAME": "x", **SHARED})
    assert config.database_url == "postgresql://u@h/db"


def test_postgresql_with_a_worker_process_runs_turns_on_the_engine(tmp_path):
    config = build_config({"DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://u@h/db", **SHARED})
    assert config.turn_engine == "procrastinate" and config.worker_failover_seconds == 15
    for other in ({"WORKER_MODE": "thread"}, {"REPLY_MODE": "twiml"}, {"DATABASE_URL": "sqlite:///x.db"}):
        assert build_config({"DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://u@h/db", **SHARED,
                             **other}).turn_engine == "in-process"


def test_postgresql_workers_need_one_shared_secret_key(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://u@h/db", "BUCKET_NAME": "media"}
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        build_config(env)
    assert not (tmp_path / "secret_key").exists()  # no per-folder key was made for it
    assert build_config({**env, "WORKER_MODE": "thread"}).secret_key  # one process: the folder's key will do


def test_postgresql_workers_refuse_media_only_one_machine_can_see(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://u@h/db", "SECRET_KEY": SHARED["SECRET_KEY"]}
    with pytest.raises(ConfigError, match="BUCKET_NAME must be set.*LOCAL_MEDIA_SHARED"):
        build_config(env)
    assert build_config({**env, "LOCAL_MEDIA_SHARED": "true"}).local_media_shared
    assert build_config({**env, "BUCKET_NAME": "media"}).bucket_name == "media"


@pytest.mark.parametrize("value", ["3", "601", "soon"])
def test_worker_failover_seconds_is_bounded(tmp_path, value):
    with pytest.raises(ConfigError, match="WORKER_FAILOVER_SECONDS"):
        build_config({"DATA_DIR": str(tmp_path), "WORKER_FAILOVER_SECONDS": value})


@pytest.mark.parametrize("value, expected", [(None, True), ("on", True), ("OFF", False), ("off", False)])
def test_vision_is_on_unless_switched_off(tmp_path, value, expected):
    env = {"DATA_DIR": str(tmp_path)} | ({"VISION": value} if value else {})
    assert build_config(env).vision is expected


def test_vision_takes_only_on_or_off(tmp_path):
    with pytest.raises(ConfigError, match="VISION must be on or off"):
        build_config({"DATA_DIR": str(tmp_path), "VISION": "yes"})


@pytest.mark.parametrize("name, value", [
    ("PORT", "http"), ("HISTORY_RUNS", "-1"), ("SEARCH_LIMIT", "0"), ("REPLY_MODE", "sms"),
    ("TWILIO_VALIDATE_SIGNATURE", "maybe"), ("OPENAI_BASE_URL", "localhost:8000"),
    ("TWILIO_API_BASE_URL", "ftp://x"), ("AUTH_TTL_HOURS", "zero"), ("DATABASE_URL", "just-a-name"),
    ("POSTGRES_DB_HOST", "db"), ("SESSION_MAX_RUNS", "5"), ("SESSION_MAX_RUNS", "-1"),
])
def test_a_wrong_value_stops_start_up_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name if name != "POSTGRES_DB_HOST" else "POSTGRES_DB_NAME"):
        build_config({"DATA_DIR": str(tmp_path), name: value})


def test_dotenv_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"DATA_DIR={tmp_path}\nOPENAI_MODEL=gpt-4o-mini\nSEARCH_LIMIT=3\n")
    config = Config.from_env({"SEARCH_LIMIT": "7"}, dotenv_path=str(env_file))
    assert config.openai_model == "gpt-4o-mini" and config.search_limit == 7


def test_the_secret_key_is_generated_once_and_kept(tmp_path):
    first = build_config({"DATA_DIR": str(tmp_path)}).secret_key
    second = build_config({"DATA_DIR": str(tmp_path)}).secret_key
    assert first == second and len(first) >= 32
    assert oct(Path(tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


def test_whatsapp_number_gets_its_prefix(tmp_path):
    config = build_config({"DATA_DIR": str(tmp_path), "TWILIO_WHATSAPP_NUMBER": "+14155238886"})
    assert config.twilio_whatsapp_number == "whatsapp:+14155238886"


def test_session_max_runs_of_zero_keeps_every_run(tmp_path):
    assert build_config({"DATA_DIR": str(tmp_path), "SESSION_MAX_RUNS": "0"}).session_max_runs == 0
