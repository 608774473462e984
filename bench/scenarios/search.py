"""Search: `search_images` latency at 10k/100k/1M descriptions on PostgreSQL, 10k/100k on SQLite.

Rows are seeded in bulk with storage/seed.py's helper, growing one database step by step and
running ANALYZE after each step (as autovacuum would). Owners: 1,000 ordinary users share 99% of
the rows and one heavy user holds 1% (10,000 at 1M); queries of one to three words come from a
fixed vocabulary, for random owners and, separately, for the heavy one. Every row also carries a
model description (what vision saw, from its own word stream so the users' descriptions stay those
of earlier runs), indexed beside the user's words as in production.
"""
from __future__ import annotations

import random
import time
from typing import Iterator

from sqlalchemy import text

from storage.db import Database
from storage.search import search_images
from storage.seed import NewDescription, bulk_insert_descriptions

from ..common import Run, postgres_database, sqlite_url
from ..stats import ms_summary
from ..words import Vocabulary

TITLE = "Search"
OWNERS = 1000
HEAVY = "+5511988880000"


def owner_of(index: int) -> str:
    """The owner of the `index`-th ordinary user."""
    return f"+55118{index:08d}"


def _rows(vocab: Vocabulary, seen: Vocabulary, rng: random.Random, count: int,
          start: int) -> Iterator[NewDescription]:
    for i in range(start, start + count):
        owner = HEAVY if i % 100 == 0 else owner_of(rng.randrange(OWNERS))
        yield NewDescription(owner, vocab.description(), image_keys=(f"images/bench/{i}.jpg",),
                             model_description=seen.description())


def _queries(db: Database, vocab: Vocabulary, rng: random.Random, count: int, heavy: bool) -> dict:
    durations, hits = [], 0
    for _ in range(count):
        owner = HEAVY if heavy else owner_of(rng.randrange(OWNERS))
        query = vocab.query()
        started = time.perf_counter()
        found = search_images(db, owner, query, limit=5)
        durations.append(time.perf_counter() - started)
        hits += bool(found)
    return {**ms_summary(durations, (50, 95)), "share_with_hits": round(hits / max(count, 1), 3)}


def _grow(ctx: Run, db: Database, label: str, sizes: tuple[int, ...], queries: int) -> list[dict]:
    vocab, seen, rng, results, have = Vocabulary(), Vocabulary(seed=22), random.Random(7), [], 0
    for size in sizes:
        bar = ctx.progress(f"seed {label} to {size:,}", size - have)
        started = time.monotonic()
        for chunk_start in range(have, size, 10_000):
            count = min(10_000, size - chunk_start)
            bulk_insert_descriptions(db, _rows(vocab, seen, rng, count, chunk_start))
            bar.update(count)
        seed_seconds = time.monotonic() - started
        bar.close()
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        grown, have = size - have, size
        _queries(db, vocab, rng, 20, heavy=False)
        results.append({"database": label, "rows": size, "seed_rows_per_s": round(grown / seed_seconds),
                        **_queries(db, vocab, rng, queries, heavy=False),
                        "heavy_owner": _queries(db, vocab, rng, queries // 2, heavy=True)})
    return results


def run(ctx: Run) -> dict:
    """Grow a PostgreSQL and a SQLite database and time queries at each size."""
    pg_sizes, lite_sizes = ((10_000,), (10_000,)) if ctx.quick else ((10_000, 100_000, 1_000_000), (10_000, 100_000))
    queries = 60 if ctx.quick else 400
    results = []
    with postgres_database("bench_search") as url:
        db = Database(url, pool_size=2)
        db.migrate()
        results += _grow(ctx, db, "postgresql", pg_sizes, queries)
        db.dispose()
    lite = Database(sqlite_url(ctx.folder("search-sqlite")), pool_size=2)
    lite.migrate()
    results += _grow(ctx, lite, "sqlite", lite_sizes, queries)
    lite.dispose()
    return {"runs": results, "owners": OWNERS + 1, "heavy_owner_share": 0.01, "model_descriptions": True}
