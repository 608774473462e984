"""image search: Portuguese full-text search on table_descricao

PostgreSQL: the `unaccent` extension, `pt_fold(text)` (accents, case, stopwords, plurals snowball
misses), the `pt_unaccent` configuration (portuguese with unaccent before portuguese_stem), a stored
generated tsvector column and a GIN index over (owner, tsvector) through `btree_gin`.
SQLite: an FTS5 table of the words common/ptstem.py makes, rowid = table_descricao.id, filled by
storage and emptied by a trigger. Both: indexes for per-owner listing and for finding images not yet
described.

The stopwords and plural rules below are a frozen copy of common/ptstem.py at this revision; a test
checks that PostgreSQL and Python still make the same words.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STOPWORDS = (
    "a ao aos aquela aquelas aquele aqueles aquilo as ate com como da das de dela delas dele deles depois "
    "do dos e ela elas ele eles em entre era eram eramos essa essas esse esses esta estamos estao estas "
    "estava estavam estavamos este esteja estejam estejamos estes esteve estive estivemos estiver "
    "estivera estiveram estiveramos estiverem estivermos estivesse estivessem estivessemos estou eu foi "
    "fomos for fora foram foramos forem formos fosse fossem fossemos fui ha haja hajam hajamos hao "
    "havemos hei houve houvemos houver houvera houveram houveramos houverao houverei houverem houveremos "
    "houveria houveriam houveriamos houvermos houvesse houvessem houvessemos isso isto ja lhe lhes mais "
    "mas me mesmo meu meus minha minhas muito na nao nas nem no nos nossa nossas nosso nossos num numa o "
    "os ou para pela pelas pelo pelos por qual quando que quem sao se seja sejam sejamos sem sera serao "
    "serei seremos seria seriam seriamos seu seus so somos sou sua suas tambem te tem temos tenha tenham "
    "tenhamos tenho tera terao terei teremos teria teriam teriamos teu teus teve tinha tinham tinhamos "
    "tive tivemos tiver tivera tiveram tiveramos tiverem tivermos tivesse tivessem tivessemos tu tua tuas "
    "um uma voce voces vos"
)
PLURAL_RULES = (
    ("oes", "ao", 1, ()),
    ("aes", "ao", 1, ("maes",)),
    ("aos", "ao", 1, ()),
    ("ais", "al", 1, ("cais", "pais", "jamais", "demais")),
    ("eis", "el", 2, ()),
    ("ois", "ol", 2, ("herois",)),
    ("uis", "ul", 1, ()),
    ("eus", "eu", 1, ("deus", "adeus")),
    ("ns", "m", 1, ()),
    ("maes", "mae", 0, ()),
)
TEXT_TYPES = "asciiword, asciihword, hword_asciipart, word, hword, hword_part"


def _fold_sql(schema: str) -> str:
    """The body of pt_fold(): split on non-alphanumerics, drop stopwords, then one regexp per plural rule."""
    stopwords = "{" + STOPWORDS.replace(" ", ",") + "}"
    words = (f"array_to_string(ARRAY(SELECT w FROM unnest(regexp_split_to_array("
             f"lower({schema}.unaccent('{schema}.unaccent'::regdictionary, $1)), '[^[:alnum:]]+')) "
             f"WITH ORDINALITY AS t(w, n) WHERE w <> '' AND w <> ALL ('{stopwords}'::text[]) "
             f"ORDER BY n), ' ')")
    for suffix, replacement, min_stem, exceptions in PLURAL_RULES:
        keep = f"(?!(?:{'|'.join(exceptions)})(?![^ ]))" if exceptions else ""
        pattern = f"(?<![^ ]){keep}([^ ]{{{min_stem},}}){suffix}(?![^ ])"
        words = f"regexp_replace({words}, '{pattern}', '\\1{replacement}', 'g')"
    return f"SELECT {words}"


def upgrade() -> None:
    bind = op.get_bind()
    op.create_index("ix_table_descricao_owner_created", "table_descricao", ["from_number", "created_at"])
    op.create_index("ix_table_image_link_media_id", "table_image_link", ["media_id"])
    op.create_index("ix_media_objects_owner_kind_created", "media_objects", ["owner", "kind", "created_at"])
    if bind.dialect.name == "postgresql":
        _upgrade_postgresql(bind)
    elif bind.dialect.name == "sqlite":
        _upgrade_sqlite(bind)


def _upgrade_postgresql(bind) -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    schema = bind.execute(sa.text(
        "SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'unaccent'")).scalar_one()
    # unaccent() is only STABLE; with its dictionary named explicitly the result cannot change,
    # which is what lets a generated column and an index use it.
    # The driver's own execute: the regexps hold "(?:", which SQLAlchemy would read as a bind parameter.
    bind.exec_driver_sql(f"CREATE FUNCTION pt_fold(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT "
                         f"PARALLEL SAFE AS $fold$ {_fold_sql(schema)} $fold$")
    op.execute("CREATE TEXT SEARCH CONFIGURATION pt_unaccent (COPY = pg_catalog.portuguese)")
    op.execute(f"ALTER TEXT SEARCH CONFIGURATION pt_unaccent ALTER MAPPING FOR {TEXT_TYPES} "
               f"WITH {schema}.unaccent, portuguese_stem")
    op.execute("ALTER TABLE table_descricao ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS "
               "(to_tsvector('pt_unaccent'::regconfig, pt_fold(descricao))) STORED")
    # One GIN over (owner, words): btree_gin lets a sender's rows and a common word intersect inside
    # the index, where two separate indexes made the planner read the word's whole posting list.
    # fastupdate off: every search would otherwise scan the unsorted pending list (+8 ms at 1M rows).
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.execute("CREATE INDEX ix_table_descricao_search ON table_descricao "
               "USING gin (from_number, search_tsv) WITH (fastupdate = off)")


def _upgrade_sqlite(bind) -> None:
    op.execute("CREATE VIRTUAL TABLE image_search_fts USING fts5(owner, stems, "
               "tokenize = 'unicode61 remove_diacritics 0')")
    op.execute("CREATE TRIGGER image_search_fts_delete AFTER DELETE ON table_descricao BEGIN "
               "DELETE FROM image_search_fts WHERE rowid = OLD.id; END")
    # The words are written here, not through storage/search.py: revision 0005 adds a column that
    # the current indexing code writes, which this revision's table does not have yet.
    from common.ptstem import lexemes

    rows = bind.execute(sa.text("SELECT id, from_number, descricao FROM table_descricao")).all()
    params = [{"id": id_, "owner": "o" + owner.encode().hex(), "stems": " ".join(lexemes(text))}
              for id_, owner, text in rows]
    if params:
        bind.execute(sa.text("INSERT INTO image_search_fts(rowid, owner, stems) VALUES (:id, :owner, :stems)"),
                     params)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_table_descricao_search")
        op.execute("ALTER TABLE table_descricao DROP COLUMN IF EXISTS search_tsv")
        op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS pt_unaccent")
        op.execute("DROP FUNCTION IF EXISTS pt_fold(text)")
    elif bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS image_search_fts_delete")
        op.execute("DROP TABLE IF EXISTS image_search_fts")
    op.drop_index("ix_media_objects_owner_kind_created", table_name="media_objects")
    op.drop_index("ix_table_image_link_media_id", table_name="table_image_link")
    op.drop_index("ix_table_descricao_owner_created", table_name="table_descricao")
