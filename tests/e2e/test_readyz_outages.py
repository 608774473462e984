"""/readyz over real HTTP: 200 while every store answers, 503 naming the store that went down.

PostgreSQL: the app reaches the machine's server through a TCP proxy the test stops (the server
itself keeps running for everyone else). S3: a moto server of this test's own, stopped mid-test.
"""
from __future__ import annotations

import pytest
import requests
from moto.server import ThreadedMotoServer

from storage.media.s3 import make_client

pytestmark = pytest.mark.slow


@pytest.fixture
def own_s3_server():
    """A moto S3 server only this test uses (so stopping it harms no other test), with a bucket."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    make_client(endpoint, access_key="readyz-key", secret_key="readyz-secret").create_bucket(Bucket="readyz")
    state = {"running": True}

    def stop() -> None:
        if state["running"]:
            server.stop()
            state["running"] = False

    yield endpoint, stop
    stop()


def readyz(live) -> requests.Response:
    """GET /readyz with no credentials, as a load balancer would."""
    return requests.get(f"{live.url}/readyz", timeout=15)


def test_readyz_names_postgresql_when_it_stops_answering(make_live_app, pg_behind_proxy):
    proxy, url, _direct = pg_behind_proxy
    live = make_live_app(with_model=False, with_twilio=False, start_worker=False, DATABASE_URL=url)
    assert live.services.db.dialect == "postgresql"
    ready = readyz(live)
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    proxy.stop()
    down = readyz(live)
    assert down.status_code == 503
    body = down.json()
    # The chat log (a table) and the agent's memory (SESSION_DB_URL's default) live in that PostgreSQL too.
    assert body["error"]["code"] == "not_ready"
    assert body["error"]["message"] == "not answering: database, chat_log, session_db"
    assert body["checks"] == {"database": "failing", "chat_log": "failing", "media_store": "ok",
                              "session_db": "failing"}
    assert "127.0.0.1" not in down.text and "psycopg2" not in down.text


def test_readyz_names_the_media_store_when_s3_stops(make_live_app, own_s3_server):
    endpoint, stop = own_s3_server
    live = make_live_app(with_model=False, with_twilio=False, start_worker=False, BUCKET_NAME="readyz",
                         S3_ENDPOINT=endpoint, AWS_ACCESS_KEY_ID="readyz-key", AWS_SECRET_ACCESS_KEY="readyz-secret")
    ready = readyz(live)
    assert ready.status_code == 200 and ready.json()["checks"]["media_store"] == "ok"
    stop()
    down = readyz(live)
    assert down.status_code == 503
    assert down.json()["error"]["message"] == "not answering: media_store"
    assert down.json()["checks"]["media_store"] in ("failing", "timeout")
