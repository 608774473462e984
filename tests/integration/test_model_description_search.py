"""What the model saw in a photo is found by search on SQLite (FTS5) and PostgreSQL (tsvector),
with the same Portuguese folding and stemming as the user's words, and always ranked below them.
Migration 0005 runs down and up again on both databases with rows in place.
"""
from __future__ import annotations

import itertools

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from storage.db import Database, alembic_config, upgrade
from storage.images import IMAGE, add_media, list_descriptions, save_description
from storage.search import search_descriptions, search_images
from storage.vision import photos_to_show, set_model_description

ME, OTHER = "+5511999990001", "+5511999990002"
_keys = itertools.count()


def store(db: Database, owner: str, description: str, seen: str | None = None) -> int:
    """One described photo whose model description is `seen`; returns the description id."""
    media_id = add_media(db, owner, IMAGE, f"img/{owner}/{next(_keys)}.jpg", "image/jpeg", 10)
    if seen:
        set_model_description(db, media_id, seen)
    return save_description(db, owner, description, [media_id]).id


def test_a_word_only_the_model_saw_finds_the_photo(db):
    found = store(db, ME, "viagem de férias", seen="cachorros correndo na areia")
    store(db, ME, "aniversário", seen="bolo com velas")
    store(db, OTHER, "outra pessoa", seen="cachorro")
    [hit] = search_images(db, ME, "cachorro")
    assert (hit.id, hit.description, hit.model_description) == (found, "viagem de férias", "cachorros correndo na areia")
    assert [h.id for h in search_images(db, ME, "Areias")] == [found], "plural and case folded as for own words"


def test_own_words_rank_above_the_models_even_with_fewer_words(db):
    by_model = store(db, ME, "passeio", seen="cachorro na praia ao sol")
    own = store(db, ME, "meu cachorro")
    newer_by_model = store(db, ME, "domingo", seen="cachorro")
    hits = search_images(db, ME, "cachorro praia sol")
    assert [h.id for h in hits] == [own, by_model, newer_by_model]
    hits, total = search_descriptions(db, "cachorro praia sol")
    assert total == 3 and [h.id for h in hits] == [own, by_model, newer_by_model], "the dashboard ranks the same"


def test_several_photos_of_one_description_gather_what_the_model_saw(db):
    first = add_media(db, ME, IMAGE, "img/x1.jpg", "image/jpeg", 10)
    second = add_media(db, ME, IMAGE, "img/x2.jpg", "image/jpeg", 10)
    set_model_description(db, first, "gato preto")
    set_model_description(db, second, "gato preto")
    third = add_media(db, ME, IMAGE, "img/x3.jpg", "image/jpeg", 10)
    set_model_description(db, third, "janela aberta")
    saved = save_description(db, ME, "casa nova", [first, second, third])
    [row], _ = list_descriptions(db, owner=ME)
    assert row.model_description == "gato preto; janela aberta" and row.id == saved.id
    assert [h.id for h in search_images(db, ME, "janelas")] == [saved.id]
    assert [p.model_description for p in photos_to_show(db, ME, [third, first, 999])] == ["janela aberta", "gato preto"]
    assert photos_to_show(db, OTHER, [first]) == [], "another owner's photo is never shown"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0005_goes_down_and_up_with_rows(backend, tmp_path, fresh_pg_url):
    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else fresh_pg_url
    engine = create_engine(url)
    upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO table_descricao (descricao, from_number, created_at) "
                          "VALUES ('cachorros na praia', :owner, CURRENT_TIMESTAMP)"), {"owner": ME})
        if backend == "sqlite":  # what storage wrote before 0005
            conn.execute(text("INSERT INTO image_search_fts (rowid, owner, stems) VALUES (1, :o, 'cachorr pra')"),
                         {"o": "o" + ME.encode().hex()})
    upgrade(engine)
    db = Database(url)
    assert [h.description for h in search_images(db, ME, "cachorro")] == ["cachorros na praia"]
    store(db, ME, "passeio", seen="gato no muro")
    assert [h.description for h in search_images(db, ME, "gatos")] == ["passeio"]
    command.downgrade(alembic_config(engine), "0004")
    for table in ("table_descricao", "media_objects"):
        assert "model_description" not in {column["name"] for column in inspect(engine).get_columns(table)}
    upgrade(engine)
    assert [h.description for h in search_images(db, ME, "cachorro praia")] == ["cachorros na praia"]
    db.dispose()
    engine.dispose()
