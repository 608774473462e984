"""The turn's snapshot of its sender on SQLite and PostgreSQL: one statement gives the same flow,
account and waiting photos that get_flow, get_user_by_phone and pending_images give one by one."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, update

from common.clock import utcnow
from storage import images, users
from storage.conversation import get_flow, set_flow
from storage.models import ConversationState
from storage.images import PENDING_LIMIT
from storage.turn_state import read_turn_state
from tests.factories import make_user

PHONE, OTHER = "+5511900000042", "+5511900000043"


def _statements(db, work) -> tuple[object, list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        result = work()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return result, seen


def _image(db, owner: str, n: int) -> int:
    return images.add_media(db, owner, images.IMAGE, f"images/{owner[1:]}-{n}.jpg", "image/jpeg", 100 + n)


def test_a_stranger_has_no_flow_no_account_and_no_photos(db):
    state, statements = _statements(db, lambda: read_turn_state(db, PHONE))
    assert (state.flow, state.user, state.waiting_images) == (None, None, ())
    assert len(statements) == 1


def test_one_statement_reads_what_the_three_reads_give(db):
    make_user(db, PHONE)
    make_user(db, OTHER, name="Bob Teste")
    set_flow(db, PHONE, "login:cpf", {"tries": 1})
    mine = [_image(db, PHONE, n) for n in range(3)]
    _image(db, OTHER, 9)
    described = _image(db, PHONE, 7)
    images.save_description(db, PHONE, "um gato", [described])

    state, statements = _statements(db, lambda: read_turn_state(db, PHONE))

    assert len(statements) == 1 and "password_hash" not in statements[0]
    assert state.flow == get_flow(db, PHONE)
    assert state.user == users.get_user_by_phone(db, PHONE)
    assert list(state.waiting_images) == images.pending_images(db, PHONE)
    assert [m.id for m in state.waiting_images] == mine, "only this sender's undescribed photos, oldest first"


def test_the_newest_photos_only(db):
    ids = [_image(db, PHONE, n) for n in range(PENDING_LIMIT + 3)]
    state = read_turn_state(db, PHONE)
    assert [m.id for m in state.waiting_images] == ids[-PENDING_LIMIT:]
    assert list(state.waiting_images) == images.pending_images(db, PHONE, limit=PENDING_LIMIT)


def test_an_abandoned_flow_is_dropped_as_get_flow_does(db):
    set_flow(db, PHONE, "register", {"name": "Ana"})
    with db.session() as session:
        session.execute(update(ConversationState).values(updated_at=utcnow() - timedelta(minutes=31)))
    assert read_turn_state(db, PHONE).flow is None
    assert get_flow(db, PHONE) is None
    with db.session() as session:
        assert session.get(ConversationState, PHONE) is None, "deleted, not only hidden"
