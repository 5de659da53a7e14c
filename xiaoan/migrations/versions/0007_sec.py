"""hand-off data encrypted at rest: the callback phone and the slots snapshots of hand-off sessions
and callback requests; two more audit actions (tickets listed / a ticket page revealed unmasked)

Existing rows are encrypted with the first key of XIAOAN_DATA_KEY (development: var/data_key),
so set the production key BEFORE running `xiaoan db upgrade`. The downgrade decrypts them.

Revision ID: 0007_sec
Revises: 0006_onedef
Create Date: 2026-12-05 05:00:00
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0007_sec'
down_revision = '0006_onedef'
branch_labels = None
depends_on = None

#: (table, column, JSON document?) encrypted by this revision; the purpose bound into each value
#: is "<table>.<column>", as the models' EncryptedText / EncryptedJSON columns use.
COLUMNS = (
    ("handoff_sessions", "slots", True),
    ("handoff_callbacks", "phone", False),
    ("handoff_callbacks", "slots", True),
)

OLD_ACTIONS = ('transcript_reveal', 'slots_reveal', 'callback_view', 'ticket_show')
NEW_ACTIONS = OLD_ACTIONS + ('ticket_list_reveal', 'ticket_page_reveal')


def _action_check(actions) -> str:
    return "action IN (" + ", ".join(f"'{a}'" for a in actions) + ")"


def _set_actions(actions) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a constraint: the table is copied (ids kept, no sequence involved)
        with op.batch_alter_table('personal_data_views', schema=None, recreate='always') as batch_op:
            batch_op.drop_constraint('ck_personal_data_views_action', type_='check')
            batch_op.create_check_constraint('ck_personal_data_views_action', _action_check(actions))
    else:
        # in place: a copied table would restart the id sequence
        op.drop_constraint('ck_personal_data_views_action', 'personal_data_views', type_='check')
        op.create_check_constraint('ck_personal_data_views_action', 'personal_data_views', _action_check(actions))


def _alter(bind, to_text: bool) -> None:
    postgres = bind.dialect.name == "postgresql"
    for table, column, is_json in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            if is_json:
                old, new = (sa.JSON(), sa.Text()) if to_text else (sa.Text(), sa.JSON())
                cast = f"{column}::text" if to_text else f"{column}::json"
            else:
                old, new = (sa.String(length=32), sa.Text()) if to_text else (sa.Text(), sa.String(length=32))
                cast = None
            kwargs = {"postgresql_using": cast} if postgres and cast else {}
            batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=False, **kwargs)


def upgrade() -> None:
    from xiaoan.crypto import is_encrypted, keyring

    bind = op.get_bind()
    _set_actions(NEW_ACTIONS)
    _alter(bind, to_text=True)
    ring = None
    for table, column, is_json in COLUMNS:
        for row_id, value in bind.execute(sa.text(f"SELECT id, {column} FROM {table}")).all():
            if value is None or is_encrypted(value):
                continue
            ring = ring or keyring()
            if is_json:
                document = json.loads(value) if isinstance(value, str) else value
                value = json.dumps(document, ensure_ascii=False, sort_keys=True)
            sealed = ring.encrypt(value, f"{table}.{column}")
            bind.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"), {"v": sealed, "id": row_id})


def downgrade() -> None:
    from xiaoan.crypto import keyring

    bind = op.get_bind()
    ring = None
    for table, column, _ in COLUMNS:
        for row_id, value in bind.execute(sa.text(f"SELECT id, {column} FROM {table}")).all():
            if value is None:
                continue
            ring = ring or keyring()
            plain = ring.decrypt(value, f"{table}.{column}")
            bind.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"), {"v": plain, "id": row_id})
    _alter(bind, to_text=False)
    # the older schema knows no such actions: the rows are kept as the nearest one (the source column
    # still says console or cli), never deleted
    bind.execute(sa.text("UPDATE personal_data_views SET action = 'ticket_show' "
                         "WHERE action IN ('ticket_list_reveal', 'ticket_page_reveal')"))
    _set_actions(OLD_ACTIONS)
