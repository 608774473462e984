"""media thumbnails: the media-store key of each photo's small JPEG copy (NULL: none was made)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media_objects") as batch:
        batch.add_column(sa.Column("thumb_key", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media_objects") as batch:
        batch.drop_column("thumb_key")
