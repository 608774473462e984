"""common/errors.short_reason: the failure line stored in the ledger and logged keeps out the values
SQLAlchemy's own error text repeats (a message body, a password hash)."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from common.errors import short_reason


def test_a_database_error_keeps_the_driver_line_and_drops_the_parameters():
    engine = create_engine("sqlite://")
    with pytest.raises(OperationalError) as caught, engine.connect() as conn:
        conn.execute(text("INSERT INTO missing_table (body) VALUES (:body)"), {"body": "minha-senha-secreta"})
    assert "minha-senha-secreta" in str(caught.value), "SQLAlchemy's own text carries it"
    assert short_reason(caught.value) == "OperationalError: no such table: missing_table"


def test_other_errors_keep_their_first_line_within_the_limit():
    assert short_reason(ValueError("primeira linha\nsegunda")) == "ValueError: primeira linha"
    assert short_reason(RuntimeError("x" * 900), 500) == "RuntimeError: " + "x" * 500
