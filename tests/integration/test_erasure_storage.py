"""storage.erasure on both databases: after `erase_phone` and `erase_from_disk`, the SQLite files hold
none of the erased description (its words, its search stems), the WAL is empty, and PostgreSQL (which
keeps dead tuples until VACUUM, docs/operators.md) goes through the same calls."""
from __future__ import annotations

from pathlib import Path

from common.ptstem import lexemes
from storage import search
from storage.erasure import erase_from_disk, erase_phone
from storage.seed import NewDescription, bulk_insert_descriptions

ALICE, BOB = "+5511999990001", "+5511999990002"
MARKER = "Zumbrântica quixabeiral"


def test_erasure_leaves_no_trace_in_the_files_and_keeps_others(db):
    bulk_insert_descriptions(db, [NewDescription(ALICE, f"a {MARKER} florida", image_keys=("images/a/1.jpg",)),
                                  NewDescription(BOB, "praia com areia", image_keys=("images/b/1.jpg",))])
    bulk_insert_descriptions(db, [NewDescription(BOB, f"praia {i}", image_keys=(f"images/b/{i + 2}.jpg",))
                                  for i in range(20)])
    assert search.search_images(db, ALICE, "quixabeiral")
    erased = erase_phone(db, ALICE)
    assert erased.media_keys == ("images/a/1.jpg",)
    assert erase_from_disk(db.engine, db.engine) is True
    assert search.search_images(db, ALICE, "quixabeiral") == []
    assert len(search.search_images(db, BOB, "praia")) > 0
    if db.dialect == "sqlite":
        path = Path(db.engine.url.database)
        assert Path(f"{path}-wal").stat().st_size == 0
        content = path.read_bytes()
        for needle in {*MARKER.split(), *lexemes(MARKER)}:
            assert needle.encode() not in content, needle
