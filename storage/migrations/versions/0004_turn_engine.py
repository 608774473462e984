"""turn engine: procrastinate's own schema on PostgreSQL (jobs, workers' heartbeats, periodic defers)

With PostgreSQL, a sender's turns run as procrastinate jobs (worker/engine.py): the webhook inserts
the ledger row and the sender's job in one statement (storage/turn_jobs.py), so the job table must
exist before the first webhook. The schema is procrastinate's own `schema.sql` for the pinned
version (requirements.txt); a later procrastinate upgrade adds its migration files in a new
revision here. SQLite keeps the in-process worker and gets nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    exists = bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").scalar()
    if not exists:  # applied by hand with `procrastinate schema --apply` before: keep it
        _run_script(bind, SchemaManager.get_schema())


def _run_script(bind, sql: str) -> None:
    """Run a multi-statement SQL script on the migration's own connection and transaction, on the
    driver's cursor without parameters: the script's `%` signs are not placeholders."""
    with bind.connection.dbapi_connection.cursor() as cursor:
        cursor.execute(sql)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs",
                  "procrastinate_workers"):
        bind.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    _run_script(bind, _DROP_FUNCTIONS)
    for kind in ("procrastinate_job_event_type", "procrastinate_job_status", "procrastinate_job_to_defer_v1"):
        bind.exec_driver_sql(f"DROP TYPE IF EXISTS {kind} CASCADE")


_DROP_FUNCTIONS = """
DO $$ DECLARE f record; BEGIN
  FOR f IN SELECT oid::regprocedure AS signature FROM pg_proc WHERE proname LIKE 'procrastinate\\_%' LOOP
    EXECUTE 'DROP FUNCTION IF EXISTS ' || f.signature || ' CASCADE';
  END LOOP;
END $$;
"""
