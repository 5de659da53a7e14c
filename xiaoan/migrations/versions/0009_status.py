"""status updates and satisfaction (issue 15, part 2): platform status events, the notification
queue, satisfaction surveys per ticket, browsers of the chat page

Revision ID: 0009_status
Revises: 0007_sec
Create Date: 2026-12-05 08:00:00
"""
import sqlalchemy as sa
from alembic import op

from xiaoan.db import UTCDateTime

revision = '0009_status'
down_revision = '0008_attach'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ticket_status_updates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_key', sa.String(length=160), nullable=False),
        sa.Column('body_sha256', sa.String(length=64), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('applied', sa.Integer(), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('received_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_key'),
    )
    op.create_index('ix_ticket_status_updates_ticket_id', 'ticket_status_updates', ['ticket_id'])
    op.create_table(
        'ticket_notifications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dedupe_key', sa.String(length=200), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('recipient', sa.Text(), nullable=False),
        sa.Column('conversation_id', sa.String(length=255), nullable=True),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('via', sa.String(length=16), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('locked_until', UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('delivered_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedupe_key'),
    )
    op.create_index('ix_ticket_notifications_ticket_id', 'ticket_notifications', ['ticket_id'])
    op.create_index('ix_ticket_notifications_due', 'ticket_notifications', ['state', 'channel', 'next_attempt_at'])
    op.create_index('ix_ticket_notifications_conversation', 'ticket_notifications', ['conversation_id'])
    op.create_table(
        'ticket_surveys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('asked_at', UTCDateTime(), nullable=False),
        sa.Column('level', sa.String(length=16), nullable=True),
        sa.Column('reason', sa.String(length=500), nullable=True),
        sa.Column('answered_via', sa.String(length=16), nullable=True),
        sa.Column('answered_at', UTCDateTime(), nullable=True),
        sa.Column('rating_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['rating_id'], ['service_ratings.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ticket_id'),
    )
    op.create_table(
        'web_visitors',
        sa.Column('visitor_id', sa.String(length=64), nullable=False),
        sa.Column('conversation_id', sa.String(length=255), nullable=False),
        sa.Column('seen_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('visitor_id', 'conversation_id'),
    )
    op.create_index('ix_web_visitors_conversation', 'web_visitors', ['conversation_id'])


def downgrade() -> None:
    op.drop_index('ix_web_visitors_conversation', table_name='web_visitors')
    op.drop_table('web_visitors')
    op.drop_table('ticket_surveys')
    op.drop_index('ix_ticket_notifications_conversation', table_name='ticket_notifications')
    op.drop_index('ix_ticket_notifications_due', table_name='ticket_notifications')
    op.drop_index('ix_ticket_notifications_ticket_id', table_name='ticket_notifications')
    op.drop_table('ticket_notifications')
    op.drop_index('ix_ticket_status_updates_ticket_id', table_name='ticket_status_updates')
    op.drop_table('ticket_status_updates')
