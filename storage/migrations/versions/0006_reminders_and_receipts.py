"""reminders and delivery receipts: what the assistant sends on its own, and what Twilio says became of it

`deliveries` holds one row per outbound part (Twilio's SID) with the latest status its status
callback reported (queued, sent, delivered, read, failed, undelivered) and the error code;
`contact_prefs` what a phone asked of proactive messages (PARAR/VOLTAR, a 21610 block, its time
zone); `reminders` the reminders, claimed by the firing chore with a row lock (worker/reminders.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("message_sid", sa.String(64), primary_key=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reminder_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_deliveries_phone", "deliveries", ["phone"])
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.create_table(
        "contact_prefs",
        sa.Column("phone", sa.String(20), primary_key=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(20), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("repeat", sa.String(10), nullable=True),
        sa.Column("local_time", sa.String(5), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("todo_item_id", sa.Integer(), sa.ForeignKey("todo_items.id", ondelete="CASCADE"), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_reminders_due", "reminders", ["status", "due_at"])
    op.create_index("ix_reminders_owner", "reminders", ["owner", "status"])
    op.create_index("ux_reminders_owner_number", "reminders", ["owner", "number"], unique=True)


def downgrade() -> None:
    op.drop_table("reminders")
    op.drop_table("contact_prefs")
    op.drop_table("deliveries")
