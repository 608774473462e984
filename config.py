"""One settings object, built from the environment and `.env`, validated at start-up.

Every name and default follows SPEC section 8; `.env.example` documents each variable. A wrong
value raises `ConfigError` naming the variable, so a bad deployment stops before it serves.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import quote_plus, urlparse

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Config:
    """All settings of one running assistant. Build it with `Config.from_env()`."""

    host: str = "127.0.0.1"
    port: int = 5000
    data_dir: Path = Path("./data")
    database_url: str = ""
    mongodb_uri: str | None = None
    mongodb_db: str = "whatsapp_assistant"
    bucket_name: str | None = None
    prefix: str = ""
    s3_endpoint: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_region: str = "us-east-1"
    session_db: Path = Path("./data/sessions.db")
    session_db_url: str | None = None
    history_runs: int = 5
    session_max_runs: int = 50
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o"
    whisper_model: str = "whisper-1"
    openai_timeout: float = 60.0
    vision: bool = True  # photos shown to the model (when it is configured)
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_whatsapp_number: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    public_base_url: str | None = None
    twilio_validate_signature: bool = True
    reply_mode: str = "rest"
    search_limit: int = 5
    admin_token: str | None = None
    auth_ttl_hours: int = 720
    secret_key: str = field(default="", repr=False)
    worker_threads: int = 32
    worker_mode: str = "process"
    worker_nice: int = 5
    burst_window_seconds: float = 3.0
    max_attempts: int = 3
    worker_failover_seconds: float = 15.0
    local_media_shared: bool = False
    log_level: str = "INFO"
    password_hash_profile: str = "production"
    default_time_zone: str = "America/Sao_Paulo"
    twilio_send_rate: float = 10.0
    reminder_grace_minutes: int = 60
    reminder_late: str = "send"
    reminder_max_active: int = 50
    reminder_template_sid: str | None = None

    @property
    def openai_configured(self) -> bool:
        return bool(self.openai_api_key)

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_whatsapp_number)

    @property
    def session_store_url(self) -> str:
        """Where agno's session memory lives: SESSION_DB_URL, else the application database when it is
        PostgreSQL (agno's own tables in it, so every worker machine shares the memory), else the
        SQLite file SESSION_DB."""
        if self.session_db_url:
            return self.session_db_url
        if self.database_url.startswith("postgresql"):
            return self.database_url
        return f"sqlite:///{self.session_db.resolve().as_posix()}"

    @property
    def status_callback_url(self) -> str | None:
        """Where Twilio reports each sent part's delivery (needs PUBLIC_BASE_URL: workers see no request)."""
        return f"{self.public_base_url.rstrip('/')}/twilio/status" if self.public_base_url else None

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def separate_worker(self) -> bool:
        """Whether turns run in the `python -m worker` process. REPLY_MODE=twiml answers inside the
        webhook, so its worker only recovers leftovers and stays in the web process."""
        return self.worker_mode == "process" and self.reply_mode == "rest"

    @property
    def uses_postgresql(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def turn_engine(self) -> str:
        """`procrastinate` when turns run as engine jobs (PostgreSQL, workers in their own processes,
        on any number of machines), else `in-process` (the dispatcher of one process: SQLite's
        `python -m worker`, WORKER_MODE=thread, REPLY_MODE=twiml)."""
        return "procrastinate" if self.uses_postgresql and self.separate_worker else "in-process"

    def with_overrides(self, **changes) -> "Config":
        """A copy with some settings changed (used by tests and the CLI)."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv_path: str | None = ".env") -> "Config":
        """Read settings from `environ` (default: the process environment over `.env`)."""
        env: dict[str, str] = {}
        if dotenv_path and Path(dotenv_path).is_file():
            env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        env.update(os.environ if environ is None else environ)
        return build_config(env)


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value is not None and value.strip() != "" else None


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name)
    if raw is None:
        return default
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name)
    if raw is None:
        return default
    if raw.lower() in ("on", "off"):
        return raw.lower() == "on"
    raise ConfigError(f"{name} must be on or off, got {raw!r}")


def _url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = _get(env, name)
    if raw is None:
        return default
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def database_url_from(env: Mapping[str, str], data_dir: Path) -> str:
    """DATABASE_URL, else one built from the original POSTGRES_DB_* variables, else SQLite."""
    url = _get(env, "DATABASE_URL")
    if url:
        if "://" not in url:
            raise ConfigError(f"DATABASE_URL must be a SQLAlchemy URL such as postgresql://..., got {url!r}")
        return url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
    host = _get(env, "POSTGRES_DB_HOST")
    if host:
        name = _get(env, "POSTGRES_DB_NAME")
        if not name:
            raise ConfigError("POSTGRES_DB_NAME must be set when POSTGRES_DB_HOST is set")
        port = _int(env, "POSTGRES_DB_PORT", 5432, minimum=1)
        user = quote_plus(_get(env, "POSTGRES_DB_USER") or "postgres")
        password = _get(env, "POSTGRES_DB_PASSWORD")
        auth = f"{user}:{quote_plus(password)}" if password else user
        return f"postgresql+psycopg2://{auth}@{host}:{port}/{name}"
    return f"sqlite:///{(data_dir / 'app.db').as_posix()}"


def session_db_url_from(env: Mapping[str, str]) -> str | None:
    """SESSION_DB_URL checked: a SQLAlchemy URL of a SQLite file or a PostgreSQL database (postgres:// normalised)."""
    url = _get(env, "SESSION_DB_URL")
    if url is None:
        return None
    if url.startswith("postgres://"):
        url = url.replace("postgres://", "postgresql://", 1)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"SESSION_DB_URL must be a SQLAlchemy URL such as postgresql://... or sqlite:///path, "
                          f"got {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError(f"SESSION_DB_URL must name a SQLite file (sqlite:///path), got {url!r}")
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"SESSION_DB_URL must be a sqlite:///path or postgresql://host/database URL, got {url!r}")
    return url


def secret_key_from(env: Mapping[str, str], data_dir: Path, shared: bool = False) -> str:
    """SECRET_KEY, else a random key kept in `<DATA_DIR>/secret_key` so signed links survive restarts.
    With `shared` (machines that must open each other's sealed bodies and signed links) a missing
    SECRET_KEY stops start-up: a key per folder would make every other machine's messages unreadable."""
    key = _get(env, "SECRET_KEY")
    if key:
        if len(key) < 16:
            raise ConfigError("SECRET_KEY must be at least 16 characters")
        return key
    if shared:
        raise ConfigError("SECRET_KEY must be set when DATABASE_URL is PostgreSQL and the worker runs in its own "
                          "process: every web and worker machine seals and opens messages with it, so set the same "
                          "long random value on each (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    path = data_dir / "secret_key"
    data_dir.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        return path.read_text().strip()
    # Written aside and linked into place: the web and the worker process start together, and
    # neither may read a key file the other has created but not yet filled.
    draft = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()


def _failover(env: Mapping[str, str]) -> float:
    """WORKER_FAILOVER_SECONDS: how long a silent worker's turns wait before another takes them."""
    seconds = _float(env, "WORKER_FAILOVER_SECONDS", 15.0)
    if not 4 <= seconds <= 600:
        raise ConfigError(f"WORKER_FAILOVER_SECONDS must be between 4 and 600, got {seconds:g}")
    return seconds


def build_config(env: Mapping[str, str]) -> Config:
    """Validate the raw variables and build the Config; raises ConfigError naming a bad one."""
    data_dir = Path(_get(env, "DATA_DIR") or "./data")
    reply_mode = (_get(env, "REPLY_MODE") or "rest").lower()
    if reply_mode not in ("rest", "twiml"):
        raise ConfigError(f"REPLY_MODE must be 'rest' or 'twiml', got {reply_mode!r}")
    number = _get(env, "TWILIO_WHATSAPP_NUMBER")
    if number and not number.startswith("whatsapp:"):
        number = f"whatsapp:{number}"
    profile = (_get(env, "PASSWORD_HASH_PROFILE") or "production").lower()
    if profile not in ("production", "fast-insecure-tests"):
        raise ConfigError("PASSWORD_HASH_PROFILE must be 'production' or 'fast-insecure-tests'")
    worker_mode = (_get(env, "WORKER_MODE") or "process").lower()
    if worker_mode not in ("process", "thread"):
        raise ConfigError(f"WORKER_MODE must be 'process' or 'thread', got {worker_mode!r}")
    worker_nice = _int(env, "WORKER_NICE", 5, minimum=0)
    if worker_nice > 19:
        raise ConfigError(f"WORKER_NICE must be between 0 and 19, got {worker_nice}")
    history_runs = _int(env, "HISTORY_RUNS", 5, minimum=0)
    session_max_runs = _int(env, "SESSION_MAX_RUNS", 50, minimum=0)
    if 0 < session_max_runs <= history_runs:
        raise ConfigError(f"SESSION_MAX_RUNS must be 0 (keep every run) or more than HISTORY_RUNS ({history_runs}), "
                          f"got {session_max_runs}")
    database_url = database_url_from(env, data_dir)
    engine_jobs = database_url.startswith("postgresql") and worker_mode == "process" and reply_mode == "rest"
    bucket_name = _get(env, "BUCKET_NAME")
    local_media_shared = _bool(env, "LOCAL_MEDIA_SHARED", False)
    if engine_jobs and not bucket_name and not local_media_shared:
        raise ConfigError("BUCKET_NAME must be set when DATABASE_URL is PostgreSQL and the worker runs in its own "
                          "process: a sender's turn may run on any worker machine, and each would see only its own "
                          "DATA_DIR/media. Set BUCKET_NAME (S3), or LOCAL_MEDIA_SHARED=true if DATA_DIR/media is one "
                          "folder every web and worker machine mounts (or everything runs on one machine)")
    log_level = (_get(env, "LOG_LEVEL") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    return Config(
        host=_get(env, "HOST") or "127.0.0.1",
        port=_int(env, "PORT", 5000, minimum=0),
        data_dir=data_dir,
        database_url=database_url,
        mongodb_uri=_get(env, "MONGODB_URI"),
        mongodb_db=_get(env, "MONGODB_DB") or "whatsapp_assistant",
        bucket_name=bucket_name,
        prefix=(_get(env, "PREFIX") or "").lstrip("/"),
        s3_endpoint=_url(env, "S3_ENDPOINT", None),
        aws_access_key_id=_get(env, "AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=_get(env, "AWS_SECRET_ACCESS_KEY"),
        aws_region=_get(env, "AWS_REGION") or "us-east-1",
        session_db=Path(_get(env, "SESSION_DB") or data_dir / "sessions.db"),
        session_db_url=session_db_url_from(env),
        history_runs=history_runs,
        session_max_runs=session_max_runs,
        openai_api_key=_get(env, "OPENAI_API_KEY"),
        openai_base_url=_url(env, "OPENAI_BASE_URL", None),
        openai_model=_get(env, "OPENAI_MODEL") or "gpt-4o",
        whisper_model=_get(env, "WHISPER_MODEL") or "whisper-1",
        openai_timeout=_float(env, "OPENAI_TIMEOUT", 60.0),
        vision=_switch(env, "VISION", True),
        twilio_account_sid=_get(env, "TWILIO_ACCOUNT_SID"),
        twilio_auth_token=_get(env, "TWILIO_AUTH_TOKEN"),
        twilio_whatsapp_number=number,
        twilio_api_base_url=_url(env, "TWILIO_API_BASE_URL", "https://api.twilio.com"),
        public_base_url=_url(env, "PUBLIC_BASE_URL", None),
        twilio_validate_signature=_bool(env, "TWILIO_VALIDATE_SIGNATURE", True),
        reply_mode=reply_mode,
        search_limit=_int(env, "SEARCH_LIMIT", 5, minimum=1),
        admin_token=_get(env, "ADMIN_TOKEN"),
        auth_ttl_hours=_int(env, "AUTH_TTL_HOURS", 720, minimum=1),
        secret_key=secret_key_from(env, data_dir, shared=engine_jobs),
        worker_threads=_int(env, "WORKER_THREADS", 32, minimum=1),
        worker_mode=worker_mode,
        worker_nice=worker_nice,
        burst_window_seconds=_float(env, "BURST_WINDOW_SECONDS", 3.0),
        max_attempts=_int(env, "MAX_ATTEMPTS", 3, minimum=1),
        worker_failover_seconds=_failover(env),
        local_media_shared=local_media_shared,
        log_level=log_level,
        password_hash_profile=profile,
        **_reminder_settings(env),
    )


def _reminder_settings(env: Mapping[str, str]) -> dict:
    """DEFAULT_TIME_ZONE, TWILIO_SEND_RATE and the REMINDER_* settings, validated."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    zone = _get(env, "DEFAULT_TIME_ZONE") or "America/Sao_Paulo"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"DEFAULT_TIME_ZONE must be an IANA time zone such as America/Sao_Paulo, got {zone!r}")
    rate = _float(env, "TWILIO_SEND_RATE", 10.0)
    if not 0 < rate <= 1000:
        raise ConfigError(f"TWILIO_SEND_RATE must be between 0 and 1000 messages per second, got {rate:g}")
    late = (_get(env, "REMINDER_LATE") or "send").lower()
    if late not in ("send", "drop"):
        raise ConfigError(f"REMINDER_LATE must be 'send' or 'drop', got {late!r}")
    return {"default_time_zone": zone, "twilio_send_rate": rate,
            "reminder_grace_minutes": _int(env, "REMINDER_GRACE_MINUTES", 60, minimum=0), "reminder_late": late,
            "reminder_max_active": _int(env, "REMINDER_MAX_ACTIVE", 50, minimum=1),
            "reminder_template_sid": _get(env, "REMINDER_TEMPLATE_SID")}


SETTING_NAMES = [f.name.upper() for f in fields(Config)]
