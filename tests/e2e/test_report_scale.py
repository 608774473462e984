"""The report with 100,000 described images, on SQLite and PostgreSQL: every page, deep or searched,
costs the same handful of queries whatever its size (no query per row), and the timings are printed."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
import requests
from sqlalchemy import event

from common.clock import utcnow
from storage.seed import NewDescription, bulk_insert_descriptions
from tests.fixtures.databases import PG_HOST, PG_PORT, PG_USER, admin_sql

pytestmark = pytest.mark.slow
IMAGES = 100_000
WORDS = ["praia", "cachorro", "bolo", "montanha", "festa", "gato", "carro", "jardim"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request) -> dict:
    """Environment for the app's database: the SQLite default, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield {}
        return
    name = f"wa_scale_{uuid.uuid4().hex[:10]}"
    admin_sql(f'CREATE DATABASE "{name}"')
    yield {"DATABASE_URL": f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"}
    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows(now):
    for i in range(IMAGES):
        owner = f"+55119{i % 500:08d}"
        words = f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]} número {i}"
        yield NewDescription(owner, f"Foto de {words}", now - timedelta(seconds=i),
                             (f"images/{owner[1:]}/2026/11/{i:032x}.jpg",))


def test_report_pages_over_100k_images(make_live_app, database_env):
    live = make_live_app(with_model=False, with_twilio=False, start_worker=False, ADMIN_TOKEN="t" * 24,
                         **database_env)
    assert bulk_insert_descriptions(live.services.db, _rows(utcnow())) == IMAGES
    statements = []
    event.listen(live.services.db.engine, "before_cursor_execute", lambda *args: statements.append(1))
    timings, counts = {}, {}
    for label, query in [("first page", "per_page=100"), ("small page", "per_page=5"),
                         ("deepest page", "per_page=100&page=1000"), ("search", "q=praias&per_page=100"),
                         ("user filter", "user=%2B5511900000007&per_page=100")]:
        statements.clear()
        started = time.perf_counter()
        response = requests.get(f"{live.url}/get-report-data?{query}", headers={"Authorization": "Bearer " + "t" * 24},
                                timeout=60)
        timings[label] = time.perf_counter() - started
        counts[label] = len(statements)
        assert response.status_code == 200, response.text
        images = response.json()["images"]
        assert images["items"] and all(item["images"][0]["url"] for item in images["items"])
        if label == "first page":
            assert images["total"] == IMAGES and images["pages"] == 1000
        if label == "deepest page":
            assert len(images["items"]) == 100 and images["items"][-1]["description"].endswith(f" {IMAGES - 1}")
    print(f"\n{live.services.db.dialect}: " + ", ".join(f"{k} {v * 1000:.0f} ms ({counts[k]} queries)"
                                                     for k, v in timings.items()))
    # 14: the 12 of before, plus one grouped read each for delivery receipts and reminders (issue 23).
    assert counts["first page"] == counts["small page"] == counts["deepest page"] <= 14
