"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chat_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_search', sa.Text(), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=True),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('chat_log', schema=None) as batch_op:
        batch_op.create_index('ix_chat_log_created', ['created_at'], unique=False)
        batch_op.create_index('ix_chat_log_phone_created', ['phone', 'created_at'], unique=False)

    op.create_table('conversation_state',
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('flow', sa.String(length=40), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('phone')
    )
    op.create_table('inbound_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_sid', sa.String(length=64), nullable=False),
    sa.Column('sender', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('media', sa.JSON(), nullable=False),
    sa.Column('profile_name', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_sid')
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_sender_status', ['sender', 'status', 'id'], unique=False)
        batch_op.create_index('ix_inbound_status', ['status'], unique=False)

    op.create_table('media_objects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('message_sid', sa.String(length=64), nullable=True),
    sa.Column('transcript', sa.Text(), nullable=True),
    sa.Column('transcript_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('media_objects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_objects_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_media_objects_message_sid'), ['message_sid'], unique=False)
        batch_op.create_index(batch_op.f('ix_media_objects_owner'), ['owner'], unique=False)

    op.create_table('table_descricao',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('descricao', sa.Text(), nullable=False),
    sa.Column('from_number', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('table_descricao', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_table_descricao_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_table_descricao_from_number'), ['from_number'], unique=False)

    op.create_table('todo_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('motivation', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('todo_lists', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_todo_lists_owner'), ['owner'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('cpf', sa.String(length=11), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('logged_in_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cpf')
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_phone'), ['phone'], unique=True)

    op.create_table('logins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('cpf', sa.String(length=11), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('logins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_logins_cpf'), ['cpf'], unique=False)
        batch_op.create_index(batch_op.f('ix_logins_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_logins_phone'), ['phone'], unique=False)

    op.create_table('table_image_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_link', sa.Text(), nullable=False),
    sa.Column('id_descricao', sa.Integer(), nullable=False),
    sa.Column('media_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['id_descricao'], ['table_descricao.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['media_id'], ['media_objects.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('table_image_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_table_image_link_id_descricao'), ['id_descricao'], unique=False)

    op.create_table('todo_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['list_id'], ['todo_lists.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('todo_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_todo_items_list_id'), ['list_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('todo_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_todo_items_list_id'))

    op.drop_table('todo_items')
    with op.batch_alter_table('table_image_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_table_image_link_id_descricao'))

    op.drop_table('table_image_link')
    with op.batch_alter_table('logins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_logins_phone'))
        batch_op.drop_index(batch_op.f('ix_logins_created_at'))
        batch_op.drop_index(batch_op.f('ix_logins_cpf'))

    op.drop_table('logins')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_phone'))

    op.drop_table('users')
    with op.batch_alter_table('todo_lists', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_todo_lists_owner'))

    op.drop_table('todo_lists')
    with op.batch_alter_table('table_descricao', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_table_descricao_from_number'))
        batch_op.drop_index(batch_op.f('ix_table_descricao_created_at'))

    op.drop_table('table_descricao')
    with op.batch_alter_table('media_objects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_objects_owner'))
        batch_op.drop_index(batch_op.f('ix_media_objects_message_sid'))
        batch_op.drop_index(batch_op.f('ix_media_objects_created_at'))

    op.drop_table('media_objects')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_status')
        batch_op.drop_index('ix_inbound_sender_status')

    op.drop_table('inbound_messages')
    op.drop_table('conversation_state')
    with op.batch_alter_table('chat_log', schema=None) as batch_op:
        batch_op.drop_index('ix_chat_log_phone_created')
        batch_op.drop_index('ix_chat_log_created')

    op.drop_table('chat_log')
