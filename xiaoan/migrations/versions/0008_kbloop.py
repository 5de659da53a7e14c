"""kb_votes.question: the question a citizen asked before voting an answer down (or up), so that
the maintainers' console can group down-voted questions with unanswered ones (issue 11 item 5).
Nullable: earlier votes have none.

Revision ID: 0008_kbloop
Revises: 0007_sec
Create Date: 2026-12-05 08:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008_kbloop'
down_revision = '0007_sec'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('kb_votes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('question', sa.Text(), nullable=True,
                                      comment='the question answered, personal data masked; null for old votes'))


def downgrade() -> None:
    with op.batch_alter_table('kb_votes', schema=None) as batch_op:
        batch_op.drop_column('question')
