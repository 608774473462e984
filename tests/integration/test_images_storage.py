"""storage/images.py on SQLite and PostgreSQL: media records, descriptions, refusal, deletion."""
from __future__ import annotations

import uuid

import psycopg2
import pytest
from alembic import command
from sqlalchemy import text

from storage.db import Database, alembic_config, upgrade
from storage.images import (AUDIO, IMAGE, MediaRefused, add_media, count_images, delete_owner_images,
                            latest_audio, list_descriptions, pending_images, save_description, set_transcript)
from storage.search import search_images
from storage.seed import NewDescription, bulk_insert_descriptions
from tests.fixtures.databases import PG_HOST, PG_PORT, PG_USER

ME = "+5511999990001"
OTHER = "+5511999990002"


def add_image(db, owner: str, name: str) -> int:
    return add_media(db, owner, IMAGE, f"img/{owner}/{name}.jpg", "image/jpeg", 100, message_sid=f"SM{name}")


def test_pending_images_are_the_undescribed_ones_newest_last(db):
    first, second, third = (add_image(db, ME, n) for n in ("a", "b", "c"))
    add_image(db, OTHER, "x")
    add_media(db, ME, AUDIO, "audio/v.ogg", "audio/ogg", 50)
    save_description(db, ME, "praia", [second])
    assert [m.id for m in pending_images(db, ME)] == [first, third]
    assert [m.id for m in pending_images(db, ME, limit=1)] == [third]
    record = pending_images(db, ME)[0]
    assert (record.kind, record.key, record.message_sid) == (IMAGE, f"img/{ME}/a.jpg", "SMa")


def test_one_description_owns_several_images(db):
    ids = [add_image(db, ME, n) for n in ("a", "b", "c")]
    saved = save_description(db, ME, "  Festa de aniversário  ", ids + [ids[0]])
    assert saved.description == "Festa de aniversário"
    assert saved.media_ids == tuple(ids)
    assert saved.image_keys == tuple(f"img/{ME}/{n}.jpg" for n in ("a", "b", "c"))
    assert pending_images(db, ME) == []
    assert count_images(db, ME) == 3 and count_images(db) == 3
    [hit] = search_images(db, ME, "aniversarios")
    assert hit.image_keys == saved.image_keys


def test_refuses_another_owners_media_and_non_images(db):
    mine = add_image(db, ME, "a")
    theirs = add_image(db, OTHER, "b")
    voice = add_media(db, ME, AUDIO, "audio/v.ogg", "audio/ogg", 50)
    for bad in ([mine, theirs], [voice], [mine, 999999]):
        with pytest.raises(MediaRefused) as refused:
            save_description(db, ME, "cachorro", bad)
        assert refused.value.media_ids == [i for i in bad if i != mine]
    assert count_images(db) == 0 and search_images(db, ME, "cachorro") == []
    with pytest.raises(ValueError):
        save_description(db, ME, "   ", [mine])
    with pytest.raises(ValueError):
        save_description(db, ME, "cachorro", [])


def test_delete_owner_images_returns_keys_and_leaves_others(db):
    described = add_image(db, ME, "a")
    add_image(db, ME, "pending")
    save_description(db, ME, "cachorro", [described])
    save_description(db, OTHER, "cachorro", [add_image(db, OTHER, "b")])
    voice = add_media(db, ME, AUDIO, "audio/v.ogg", "audio/ogg", 50)
    assert delete_owner_images(db, ME) == [f"img/{ME}/a.jpg", f"img/{ME}/pending.jpg"]
    assert search_images(db, ME, "cachorro") == [] and pending_images(db, ME) == []
    assert count_images(db, ME) == 0 and len(search_images(db, OTHER, "cachorro")) == 1
    assert latest_audio(db, ME).id == voice
    if db.dialect == "sqlite":
        with db.session() as session:
            assert session.execute(text("SELECT count(*) FROM image_search_fts")).scalar_one() == 1


def test_latest_audio_and_transcripts(db):
    assert latest_audio(db, ME) is None
    add_media(db, ME, AUDIO, "audio/1.ogg", "audio/ogg", 50)
    newest = add_media(db, ME, AUDIO, "audio/2.ogg", "audio/ogg", 60)
    assert set_transcript(db, newest, text="olá mundo") is True
    assert latest_audio(db, ME).transcript == "olá mundo"
    assert set_transcript(db, newest, error="timeout") is True
    record = latest_audio(db, ME)
    assert (record.transcript, record.transcript_error) == (None, "timeout")
    assert set_transcript(db, 999999, text="x") is False
    with pytest.raises(ValueError):
        add_media(db, ME, "video", "v.mp4", "video/mp4", 1)


def test_list_descriptions_pages_newest_first_and_filters(db):
    for n, owner in enumerate([ME, OTHER, ME]):
        save_description(db, owner, f"foto {n} da praia", [add_image(db, owner, str(n))])
    rows, total = list_descriptions(db)
    assert total == 3 and [r.description for r in rows] == [f"foto {n} da praia" for n in (2, 1, 0)]
    rows, total = list_descriptions(db, owner=ME, page=2, per_page=1)
    assert total == 2 and [r.image_keys for r in rows] == [(f"img/{ME}/0.jpg",)]
    rows, total = list_descriptions(db, query="praias 1")
    assert total == 3 and rows[0].description == "foto 1 da praia"


def test_bulk_insert_is_searchable(db):
    rows = [NewDescription(ME if n % 2 else OTHER, f"cachorro número {n}", image_keys=(f"k{n}",))
            for n in range(10)]
    assert bulk_insert_descriptions(db, rows, batch=4) == 10
    hits = search_images(db, ME, "cachorros", limit=10)
    assert len(hits) == 5 and all(h.owner == ME and h.image_keys == (f"k{h.description.split()[-1]}",)
                                  for h in hits)
    assert count_images(db) == 10


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    """An empty database of each kind, for migrating down and up."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"wa_mig_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_migration_downgrades_and_indexes_existing_rows(fresh_url):
    database = Database(fresh_url)
    try:
        upgrade(database.engine, "0001")
        with database.session() as session:
            session.execute(text("INSERT INTO table_descricao (descricao, from_number, created_at) "
                                 "VALUES ('Corações na praia', :owner, CURRENT_TIMESTAMP)"), {"owner": ME})
        database.migrate()
        assert [h.description for h in search_images(database, ME, "coração")] == ["Corações na praia"]
        command.downgrade(alembic_config(database.engine), "0001")
        database.migrate()
        assert len(search_images(database, ME, "praias")) == 1
    finally:
        database.dispose()


def test_photos_stored_before_thumbnails_existed_keep_working(fresh_url):
    from storage.images import owner_thumbnails

    old_key, new_key = "images/5511999990001/2026/11/antiga.jpg", "images/5511999990001/2026/12/nova.jpg"
    database = Database(fresh_url)
    try:
        upgrade(database.engine, "0002")
        with database.session() as session:
            session.execute(text("INSERT INTO media_objects (owner, kind, key, content_type, size, created_at) "
                                 "VALUES (:owner, 'image', :key, 'image/jpeg', 10, CURRENT_TIMESTAMP)"),
                            {"owner": ME, "key": old_key})
        database.migrate()
        new_id = add_media(database, ME, IMAGE, new_key, "image/jpeg", 10,
                           thumb_key="thumbs/5511999990001/2026/12/nova.jpg")
        with database.session() as session:
            old_id = session.scalar(text("SELECT id FROM media_objects WHERE key = :key"), {"key": old_key})
        save_description(database, ME, "fotos da praia", [old_id, new_id])
        [row], _ = list_descriptions(database, owner=ME)
        assert row.image_keys == (old_key, new_key)
        assert row.thumbnail_keys == (old_key, "thumbs/5511999990001/2026/12/nova.jpg"), "the old photo shows itself"
        [hit] = search_images(database, ME, "praia")
        assert (hit.image_keys, hit.thumbnail_keys) == (row.image_keys, row.thumbnail_keys)
        assert owner_thumbnails(database, ME) == ["thumbs/5511999990001/2026/12/nova.jpg"]
        assert owner_thumbnails(database, "+5511999990002") == []
        command.downgrade(alembic_config(database.engine), "0002")
        with database.session() as session:
            assert sorted(session.scalars(text("SELECT key FROM media_objects"))) == [old_key, new_key]
    finally:
        database.dispose()
