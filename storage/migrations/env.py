"""Alembic environment: migrates the engine handed over by storage.db, or DATABASE_URL from config."""
from __future__ import annotations

from alembic import context

from storage.models import Base

target_metadata = Base.metadata


def _engine():
    engine = context.config.attributes.get("engine")
    if engine is not None:
        return engine
    from config import Config
    from storage.db import make_engine

    return make_engine(Config.from_env().database_url)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Keep autogenerate away from what the search migration manages by hand (FTS tables, tsvector)."""
    if type_ == "table" and name and name.startswith("image_search_fts"):
        return False
    if type_ == "column" and name == "search_tsv":
        return False
    if type_ == "index" and reflected and compare_to is None:
        return False
    return True


def run_migrations_online() -> None:
    """Run migrations in a transaction on a live connection."""
    engine = _engine()
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite", include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
