"""Run an end-to-end test on the other production-shaped stores: PostgreSQL and a MongoDB chat log.

`store_overrides(request, "postgresql+mongo")` returns the environment for `make_live_app`; the
MongoDB is the session's wire server (`mongo_client`), reached by URI like a deployment would.
"""
from __future__ import annotations

import uuid

import pymongo

BACKENDS = ["sqlite+sql-chatlog", "postgresql+mongo-chatlog"]


def store_overrides(request, backend: str) -> dict[str, str]:
    """Environment overrides for `backend` (empty for the embedded defaults)."""
    if backend == "sqlite+sql-chatlog":
        return {}
    request.getfixturevalue("pg_db")
    env = {"DATABASE_URL": request.getfixturevalue("pg_url"), "MONGODB_DB": f"e2e_{uuid.uuid4().hex[:10]}"}
    client = request.getfixturevalue("mongo_client")
    if not isinstance(client, pymongo.MongoClient):
        import pytest
        pytest.skip("no MongoDB wire server here (mongomock cannot be reached by URI)")
    host, port = client.address
    env["MONGODB_URI"] = f"mongodb://{host}:{port}/?directConnection=true"
    request.addfinalizer(lambda: client.drop_database(env["MONGODB_DB"]))
    return env


def mongo_bodies(request, env: dict[str, str]) -> list[str]:
    """Every message body stored in the MongoDB chat log of `env` (read directly, not through our code)."""
    client = request.getfixturevalue("mongo_client")
    return [doc.get("body", "") + " " + doc.get("body_search", "")
            for doc in client[env["MONGODB_DB"]]["chat_log"].find({})]
