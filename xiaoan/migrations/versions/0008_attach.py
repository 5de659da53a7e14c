"""evidence attached to complaints and reports (issue 15): the ticket_attachments table, and the
audit action `attachment_download` (a member of staff downloaded an attachment)

Revision ID: 0008_attach
Revises: 0007_sec
Create Date: 2026-12-05 08:00:00
"""
import sqlalchemy as sa
from alembic import op

import xiaoan.db

revision = '0008_attach'
down_revision = '0008_kbloop'
branch_labels = None
depends_on = None

OLD_ACTIONS = ('transcript_reveal', 'slots_reveal', 'callback_view', 'ticket_show',
               'ticket_list_reveal', 'ticket_page_reveal')
NEW_ACTIONS = OLD_ACTIONS + ('attachment_download',)


def _action_check(actions) -> str:
    return "action IN (" + ", ".join(f"'{a}'" for a in actions) + ")"


def _set_actions(actions) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a constraint: the table is copied (ids kept, no sequence involved)
        with op.batch_alter_table('personal_data_views', schema=None, recreate='always') as batch_op:
            batch_op.drop_constraint('ck_personal_data_views_action', type_='check')
            batch_op.create_check_constraint('ck_personal_data_views_action', _action_check(actions))
    else:
        op.drop_constraint('ck_personal_data_views_action', 'personal_data_views', type_='check')
        op.create_check_constraint('ck_personal_data_views_action', 'personal_data_views', _action_check(actions))


def upgrade() -> None:
    op.create_table(
        'ticket_attachments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=32), nullable=False),
        sa.Column('conversation_id', sa.String(length=255), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('storage_key', sa.String(length=64), nullable=False),
        sa.Column('created_at', xiaoan.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('public_id'),
        sa.UniqueConstraint('storage_key'),
    )
    op.create_index('ix_ticket_attachments_conversation', 'ticket_attachments', ['conversation_id', 'ticket_id'])
    op.create_index('ix_ticket_attachments_ticket_id', 'ticket_attachments', ['ticket_id'])
    _set_actions(NEW_ACTIONS)


def downgrade() -> None:
    bind = op.get_bind()
    # the older schema knows no such action: the rows are kept as the nearest one, never deleted
    bind.execute(sa.text("UPDATE personal_data_views SET action = 'ticket_show' WHERE action = 'attachment_download'"))
    _set_actions(OLD_ACTIONS)
    op.drop_index('ix_ticket_attachments_ticket_id', table_name='ticket_attachments')
    op.drop_index('ix_ticket_attachments_conversation', table_name='ticket_attachments')
    op.drop_table('ticket_attachments')
