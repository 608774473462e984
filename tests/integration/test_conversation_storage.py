"""Pending flows on SQLite and PostgreSQL: read back, dropped once abandoned, and a flow advanced
after a reader found it stale is not dropped by that reader (SQLAlchemy's cursor event runs the
advance on another pooled connection just before the reader's DELETE reaches the database)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, update

from common.clock import utcnow
from storage.conversation import clear_flow, get_flow, set_flow
from storage.models import ConversationState

PHONE = "+5511900000042"


def _age(db, minutes: int) -> None:
    with db.session() as session:
        session.execute(update(ConversationState).where(ConversationState.phone == PHONE)
                        .values(updated_at=utcnow() - timedelta(minutes=minutes)))


def test_a_flow_reads_back_until_cleared(db):
    set_flow(db, PHONE, "register", {"name": "Ana"})
    flow = get_flow(db, PHONE)
    assert (flow.name, flow.data) == ("register", {"name": "Ana"})
    clear_flow(db, PHONE)
    assert get_flow(db, PHONE) is None


def test_an_abandoned_flow_is_dropped(db):
    set_flow(db, PHONE, "register", {"name": "Ana"})
    _age(db, 31)
    assert get_flow(db, PHONE) is None
    _age(db, 0)
    assert get_flow(db, PHONE) is None, "the stale row was deleted, not only hidden"


def test_a_flow_advanced_between_the_stale_read_and_the_delete_survives(db):
    """The user answers (set_flow) just after get_flow found the old flow stale: the delete is
    conditional on the flow still being stale, so the fresh step is kept."""
    set_flow(db, PHONE, "register", {"name": "Ana"})
    _age(db, 31)

    advanced: list[bool] = []

    def advance_first(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM CONVERSATION_STATE") and not advanced:
            advanced.append(True)
            set_flow(db, PHONE, "register", {"name": "Ana", "cpf_ok": True})

    event.listen(db.engine, "before_cursor_execute", advance_first)
    try:
        assert get_flow(db, PHONE) is None, "stale when read"
    finally:
        event.remove(db.engine, "before_cursor_execute", advance_first)
    assert advanced, "the advance ran just before the delete"
    flow = get_flow(db, PHONE)
    assert flow is not None and flow.data == {"name": "Ana", "cpf_ok": True}
