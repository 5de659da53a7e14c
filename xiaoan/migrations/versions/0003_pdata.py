"""personal data views: the audit log of staff views of citizens' personal data (issue 12)

Revision ID: 0003_pdata
Revises: 0002_limits
Create Date: 2026-12-05 01:30:00
"""
from alembic import op
import sqlalchemy as sa
import xiaoan.db


revision = '0003_pdata'
down_revision = '0002_limits'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('personal_data_views',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', xiaoan.db.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_role', sa.String(length=16), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.CheckConstraint("action IN ('transcript_reveal', 'slots_reveal', 'callback_view', 'ticket_show')",
                       name='ck_personal_data_views_action'),
    sa.CheckConstraint("source IN ('console', 'cli')", name='ck_personal_data_views_source'),
    sa.ForeignKeyConstraint(['actor_id'], ['staff_users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('personal_data_views', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_personal_data_views_at'), ['at'], unique=False)
        batch_op.create_index('ix_personal_data_views_actor_at', ['actor', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('personal_data_views', schema=None) as batch_op:
        batch_op.drop_index('ix_personal_data_views_actor_at')
        batch_op.drop_index(batch_op.f('ix_personal_data_views_at'))
    op.drop_table('personal_data_views')
