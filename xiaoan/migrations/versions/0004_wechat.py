"""wechat_nonces: replay protection of the WeChat webhook (security issue 12)

Revision ID: 0004_wechat
Revises: 0003_pdata
"""
from alembic import op
import sqlalchemy as sa
import xiaoan.db


revision = '0004_wechat'
down_revision = '0003_pdata'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wechat_nonces',
    sa.Column('nonce_key', sa.String(length=64), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('expires_at', xiaoan.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', xiaoan.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nonce_key')
    )
    with op.batch_alter_table('wechat_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_nonces_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wechat_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_nonces_expires_at'))
    op.drop_table('wechat_nonces')
