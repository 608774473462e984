"""`python app.py` as an operator runs it (WORKER_MODE=process): the web acknowledges, its worker
child answers through the fake Twilio, and a worker that dies is restarted without losing messages."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest
import requests

from storage import ledger
from storage.db import Database
from tests.fixtures.app import app_environment, inbound_form, sign, wait_until
from tests.fixtures.stores import free_port
from worker.nudge import socket_path

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ALICE = "+5511999990001"


@pytest.fixture
def app_py(twilio_server, openai_server):
    """`python app.py` in a subprocess with its own DATA_DIR; yields (url, process, data_dir)."""
    folder = Path(tempfile.mkdtemp(prefix="app-py-", dir="/tmp"))  # short: the nudge socket lives there
    port = free_port()
    env = {**os.environ, **app_environment(folder / "data", twilio_server, openai_server, WORKER_MODE="process",
                                           HOST="127.0.0.1", PORT=str(port))}
    with open(folder / "app.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _answers(f"{url}/healthz") and socket_path(folder / "data").exists(),
                          timeout=30), (folder / "app.log").read_text()
        yield url, proc, folder / "data"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)
        shutil.rmtree(folder, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _post(url: str, body: str) -> tuple[requests.Response, str]:
    form = inbound_form(ALICE, body)
    response = requests.post(f"{url}/whatsapp", data=form, timeout=10,
                             headers={"X-Twilio-Signature": sign(f"{url}/whatsapp", form)})
    return response, form["MessageSid"]


def _worker_children(proc: subprocess.Popen) -> list[psutil.Process]:
    return [child for child in psutil.Process(proc.pid).children() if "worker" in child.cmdline()]


def test_the_worker_child_answers_and_is_restarted_when_it_dies(app_py, twilio_server):
    url, proc, data_dir = app_py
    db = Database(f"sqlite:///{data_dir / 'app.db'}", pool_size=1)
    response, sid = _post(url, "olá do processo")
    assert response.status_code == 200 and "<Message" not in response.text
    assert twilio_server.wait_for(1, to=f"whatsapp:{ALICE}", timeout=15)[0].body == "Eco: olá do processo"
    assert wait_until(lambda: ledger.get_by_sid(db, sid).status == "done", timeout=5)

    expired = data_dir / "media" / "exports" / "5511999990001" / "20200101T000000Z-0123456789abcdef.json"
    expired.parent.mkdir(parents=True)
    expired.write_text("{}")
    [first] = _worker_children(proc)
    first.kill()
    first.wait(5)
    response, sid = _post(url, "enquanto o worker estava fora")  # acknowledged with no worker at all
    assert response.status_code == 200
    assert twilio_server.wait_for(2, to=f"whatsapp:{ALICE}", timeout=20)[1].body == \
        "Eco: enquanto o worker estava fora"
    assert wait_until(lambda: ledger.get_by_sid(db, sid).status == "done", timeout=5)
    [second] = _worker_children(proc)
    assert second.pid != first.pid
    assert wait_until(lambda: not expired.exists(), timeout=10), "the worker deletes expired exports"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert not second.is_running() or second.status() == psutil.STATUS_ZOMBIE
    db.dispose()


def test_the_worker_process_moves_spooled_messages_into_the_ledger_and_answers_them(app_py, twilio_server):
    """What a web process kept in the spool while the database was down (written here as it would
    write it, sealed with the app's key) is moved into the ledger and answered by the worker child."""
    from storage import sealing
    from storage.spool import InboundSpool, SpooledMessage

    _url, _proc, data_dir = app_py
    sealing.configure(app_environment(data_dir)["SECRET_KEY"])
    InboundSpool(data_dir).append(SpooledMessage("SMspooled0001", ALICE, "guardada no spool", [], None,
                                                 "2026-12-03T12:00:00+00:00"))
    [reply] = twilio_server.wait_for(1, to=f"whatsapp:{ALICE}", timeout=15)
    assert "guardada no spool" in reply.body
    assert not InboundSpool(data_dir).pending()
    db = Database(f"sqlite:///{data_dir / 'app.db'}", pool_size=1)
    try:
        assert wait_until(lambda: ledger.get_by_sid(db, "SMspooled0001").status == "done", timeout=15)
        assert ledger.get_by_sid(db, "SMspooled0001").received_at.isoformat() == "2026-12-03T12:00:00+00:00"
    finally:
        db.dispose()


def test_the_worker_process_pays_the_after_send_journal_on_its_own(app_py, twilio_server):
    """A turn whose reply went out while the database was down owes its `done` in the journal (written
    here as the worker writes it); the worker records it within seconds, with no other message."""
    from sqlalchemy import text

    from worker.after_send import FILE_NAME, AfterSendJournal, Owed
    from worker.runtime import JOURNAL_RETRY_SECONDS

    _url, _proc, data_dir = app_py
    db = Database(f"sqlite:///{data_dir / 'app.db'}", pool_size=1)
    try:
        entry_id = ledger.add_to_ledger(db, "SMowed000001", ALICE, "respondida na queda", failed="(placeholder)")
        with db.engine.begin() as conn:  # left `sending` by the outage, as the worker leaves it
            conn.execute(text("UPDATE inbound_messages SET status = 'sending', error = NULL WHERE id = :id"),
                         {"id": entry_id})
        journal = AfterSendJournal(data_dir / FILE_NAME, db, chatlog=None)
        journal.owe(Owed([entry_id]))
        # The row is marked before the paid entry leaves the file: wait for both.
        assert wait_until(lambda: ledger.get_by_sid(db, "SMowed000001").status == "done" and not journal.pending,
                          timeout=JOURNAL_RETRY_SECONDS + 10, interval=0.25)
        assert twilio_server.messages() == [], "recorded, never answered again"
    finally:
        db.dispose()
