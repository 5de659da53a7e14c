"""ratings: the project's channel name ("web", "wechat") instead of Rasa's input channel

Ratings were stored with Rasa's input channel ("socketio", "rest") where tickets and hand-off
sessions store the project's channel (`xiaoan.channels.names.channel_name`: the web chat is
"web"). Existing rows are rewritten with the same rule. Data only; no schema change.

Revision ID: 0006_onedef
Revises: 0005_crash
Create Date: 2026-12-05 02:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006_onedef'
down_revision = '0005_crash'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from xiaoan.channels.names import channel_name

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, channel, conversation_id FROM service_ratings")).all()
    for rating_id, channel, conversation_id in rows:
        if channel is None:
            continue
        name = channel_name(channel, conversation_id)
        if name != channel:
            bind.execute(sa.text("UPDATE service_ratings SET channel = :c WHERE id = :id"), {"c": name, "id": rating_id})


def downgrade() -> None:
    # The input channel a "web" rating came through (REST or socket.io) is not kept: nothing to undo.
    pass
