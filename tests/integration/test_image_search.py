"""search_images: one table of cases, run on SQLite (FTS5) and PostgreSQL (full-text search).

The rule under test: a description matches when it holds at least one query word (accents, case,
stopwords, plurals and simple inflections ignored); more query words found ranks first, then
relevance, then newest; only the sender's own descriptions are ever returned.
"""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text

from common import ptstem
from storage.images import IMAGE, add_media, save_description
from storage import search
from storage.search import search_descriptions, search_images

ME = "+5511999990001"
OTHER = "+5511999990002"
_keys = itertools.count()

# (query, stored descriptions (text, or (owner, text)), expected: indexes into stored, best first, limit)
CASES = [
    pytest.param("cachorro", ["dois cachorros na grama", "gato"], [0], 5, id="cachorro finds cachorros"),
    pytest.param("cachorros", ["meu cachorro", "gato"], [0], 5, id="cachorros finds cachorro"),
    pytest.param("feijão", ["feijao tropeiro", "arroz branco"], [0], 5, id="feijão finds feijao"),
    pytest.param("feijao", ["feijão preto", "arroz"], [0], 5, id="feijao finds feijão"),
    pytest.param("coração", ["corações de galinha", "pão de queijo"], [0], 5, id="coração finds corações"),
    pytest.param("praia", ["praça da sé", "praia de copacabana"], [1], 5, id="praia does not find praça"),
    pytest.param("praça", ["praça da sé", "praia de copacabana"], [0], 5, id="praça does not find praia"),
    pytest.param("CACHORRO Caramelo", ["cachorro caramelo", "gato"], [0], 5, id="case-insensitive query"),
    pytest.param("árvore", ["ARVORES DE NATAL", "presépio"], [0], 5, id="case, accents in description"),
    pytest.param("leões papéis homens pães", ["leão", "papel", "homem", "pão", "mãe"], [3, 2, 1, 0], 5,
                 id="ões/éis/ns/ães plurals"),
    pytest.param("Férias, praia!", ["ferias na praia", "praia"], [0, 1], 5, id="punctuation ignored"),
    pytest.param("cachorro praia", ["cachorro na praia", "cachorro em casa", "praia deserta", "gato no sofá"],
                 [0, 2, 1], 5, id="multi-word: all words first, then any word, newest first"),
    pytest.param("bolo de chocolate com morango",
                 ["bolo de cenoura", "bolo de chocolate com morango", "chocolate quente", "morango"],
                 [1, 3, 2, 0], 5, id="more words matched ranks first"),
    pytest.param("cachorro praia", [(OTHER, "cachorro na praia"), "cachorro"], [1], 5,
                 id="another owner's matching photo never returned"),
    pytest.param("cachorro", [(OTHER, "cachorro")], [], 5, id="only another owner matches"),
    pytest.param("cachorro", [f"foto do cachorro {n}" for n in range(7)], [6, 5, 4], 3, id="limit honoured"),
    pytest.param("bolo", ["bolo de aniversário", "bolo de aniversário"], [1, 0], 5, id="ties newest first"),
    pytest.param("", ["cachorro"], [], 5, id="empty query"),
    pytest.param("   ?! ", ["cachorro"], [], 5, id="blank and punctuation query"),
    pytest.param("de a o que você", ["de a o que você cachorro"], [], 5, id="stopword-only query"),
    pytest.param("elefante", ["cachorro", "gato"], [], 5, id="no match"),
]


def store(db, owner: str, description: str) -> int:
    """Save one described image through the storage API; returns the description id."""
    media_id = add_media(db, owner, IMAGE, f"img/{owner}/{next(_keys)}.jpg", "image/jpeg", 1234)
    return save_description(db, owner, description, [media_id]).id


@pytest.mark.parametrize("query, stored, expected, limit", CASES)
def test_search_cases(db, query, stored, expected, limit):
    ids = [store(db, *(entry if isinstance(entry, tuple) else (ME, entry))) for entry in stored]
    hits = search_images(db, ME, query, limit=limit)
    assert [ids.index(hit.id) for hit in hits] == expected


def test_hits_carry_keys_text_score_and_time(db):
    first = add_media(db, ME, IMAGE, "img/a.jpg", "image/jpeg", 10)
    second = add_media(db, ME, IMAGE, "img/b.jpg", "image/jpeg", 20)
    saved = save_description(db, ME, "Cachorros na praia", [first, second])
    [hit] = search_images(db, ME, "cachorro")
    assert (hit.id, hit.owner, hit.description) == (saved.id, ME, "Cachorros na praia")
    assert hit.image_keys == ("img/a.jpg", "img/b.jpg")
    assert hit.score > 0 and hit.matched == 1
    assert hit.created_at.tzinfo is not None
    assert search_images(db, "", "cachorro") == []


def test_ranking_looks_at_the_newest_candidates_only(db, monkeypatch):
    best = store(db, ME, "cachorro na praia")
    newer = [store(db, ME, "cachorro") for _ in range(2)]
    assert search_images(db, ME, "cachorro praia")[0].id == best
    monkeypatch.setattr(search, "CANDIDATES", 2)
    assert [hit.id for hit in search_images(db, ME, "cachorro praia")] == newer[::-1]
    assert search_descriptions(db, "cachorro praia")[0][0].id == best


def test_operator_search_spans_owners_and_pages(db):
    for owner, description in [(ME, "cachorro"), (OTHER, "cachorro na praia"), (OTHER, "gato")]:
        store(db, owner, description)
    hits, total = search_descriptions(db, "cachorro praia")
    assert total == 2 and [h.description for h in hits] == ["cachorro na praia", "cachorro"]
    page, total = search_descriptions(db, "cachorro", page=2, per_page=1)
    assert total == 2 and len(page) == 1
    mine, total = search_descriptions(db, "cachorro", owner=ME)
    assert total == 1 and mine[0].owner == ME
    assert search_descriptions(db, "de a o") == ([], 0)


WORDS = """cachorro cachorros praia praias praça praças coração corações feijão feijões pão pães cão cães mãos
animais papéis hotéis lençóis azuis homens jardins viagens chapéus mães pais heróis uns tens deus bons
organizações informações computadores férias aniversário crianças brincando correndo felicidade
rapidamente guarda-chuva pôr-do-sol abc123 2024 São Paulo ÆSIR Straße fiancée ﬁm 1º 2ª x² ½ Ação! não
você""".split()


def test_python_words_match_postgresql(pg_db):
    """SQLite's index words (common/ptstem.py) are the ones PostgreSQL's pt_fold + pt_unaccent make."""
    texts = WORDS + ["Meu cachorro brincando na praia com as crianças", "nota fiscal: R$ 150,00 (12/03)"]
    with pg_db.session() as session:
        for sample in texts:
            made = session.execute(text("SELECT tsvector_to_array(to_tsvector('pt_unaccent', pt_fold(:t)))"),
                                   {"t": sample}).scalar_one()
            assert sorted(made) == sorted(set(ptstem.lexemes(sample))), sample
