"""canned replies (常用语) of the agents' inbox, maintained by supervisors (xiaoan.handoff.canned)

Revision ID: 0010_canned
Revises: 0007_sec
Create Date: 2026-12-05 08:00:00
"""
import sqlalchemy as sa
from alembic import op

import xiaoan.db

revision = '0010_canned'
down_revision = '0009_status'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('canned_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', xiaoan.db.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', xiaoan.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('canned_replies', schema=None) as batch_op:
        batch_op.create_index('ix_canned_replies_active_topic', ['active', 'topic'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('canned_replies', schema=None) as batch_op:
        batch_op.drop_index('ix_canned_replies_active_topic')
    op.drop_table('canned_replies')
