"""model descriptions: what the model saw in each photo, kept beside the user's own description

`media_objects.model_description` is the model's short Portuguese description of one photo, written
when the photo arrives (the suggestion a photo sent alone is asked about); `table_descricao.
model_description` gathers those of the photos a description owns, and the search indexes cover it
below the user's words. PostgreSQL: `search_tsv` becomes the user's words at weight A and the
model's at weight B (same pt_fold and pt_unaccent); the GIN index over (owner, tsvector) is rebuilt
with it. SQLite: the FTS5 table gains a `model_stems` column (FTS5 tables cannot be altered, so it
is made again and refilled with the same words common/ptstem.py makes).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OWN = "setweight(to_tsvector('pt_unaccent'::regconfig, pt_fold(descricao)), 'A')"
_MODEL = "setweight(to_tsvector('pt_unaccent'::regconfig, pt_fold(coalesce(model_description, ''))), 'B')"


def upgrade() -> None:
    # Plain ADD COLUMN on both databases (batch mode adds it in place on SQLite: recreating
    # table_descricao would drop the trigger that keeps the FTS rows in step).
    with op.batch_alter_table("media_objects") as batch:
        batch.add_column(sa.Column("model_description", sa.Text(), nullable=True))
    with op.batch_alter_table("table_descricao") as batch:
        batch.add_column(sa.Column("model_description", sa.Text(), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _set_tsv(f"{_OWN} || {_MODEL}")
    elif bind.dialect.name == "sqlite":
        _make_fts(bind, with_model=True)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _set_tsv("to_tsvector('pt_unaccent'::regconfig, pt_fold(descricao))")
    elif bind.dialect.name == "sqlite":
        _make_fts(bind, with_model=False)
    with op.batch_alter_table("table_descricao") as batch:
        batch.drop_column("model_description")
    with op.batch_alter_table("media_objects") as batch:
        batch.drop_column("model_description")


def _set_tsv(expression: str) -> None:
    """Make the generated tsvector column (and its GIN index) again from `expression`."""
    op.execute("DROP INDEX IF EXISTS ix_table_descricao_search")
    op.execute("ALTER TABLE table_descricao DROP COLUMN IF EXISTS search_tsv")
    op.execute(f"ALTER TABLE table_descricao ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS ({expression}) STORED")
    op.execute("CREATE INDEX ix_table_descricao_search ON table_descricao "
               "USING gin (from_number, search_tsv) WITH (fastupdate = off)")


def _make_fts(bind, with_model: bool) -> None:
    """Make the FTS5 table again (with or without the model's column) and refill it from the
    descriptions. The words are written here, not through storage/search.py, so this revision
    keeps writing the columns it created whatever later revisions change."""
    from common.ptstem import lexemes

    op.execute("DROP TRIGGER IF EXISTS image_search_fts_delete")
    op.execute("DROP TABLE IF EXISTS image_search_fts")
    columns = "owner, stems, model_stems" if with_model else "owner, stems"
    op.execute(f"CREATE VIRTUAL TABLE image_search_fts USING fts5({columns}, "
               f"tokenize = 'unicode61 remove_diacritics 0')")
    op.execute("CREATE TRIGGER image_search_fts_delete AFTER DELETE ON table_descricao BEGIN "
               "DELETE FROM image_search_fts WHERE rowid = OLD.id; END")
    rows = bind.execute(sa.text("SELECT id, from_number, descricao, "
                                + ("model_description" if with_model else "NULL") + " FROM table_descricao")).all()
    params = [{"id": id_, "owner": "o" + owner.encode().hex(), "stems": " ".join(lexemes(own)),
               "model": " ".join(lexemes(model or ""))} for id_, owner, own, model in rows]
    if params:
        values = "(:id, :owner, :stems, :model)" if with_model else "(:id, :owner, :stems)"
        bind.execute(sa.text(f"INSERT INTO image_search_fts(rowid, {columns}) VALUES {values}"), params)
