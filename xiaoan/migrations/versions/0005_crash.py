"""personal data encrypted at rest: tickets' complainant name, phone, address and the outbox payload;
phone lookup hash; retention marker

Existing rows are encrypted with the first key of XIAOAN_DATA_KEY (development: var/data_key),
so set the production key BEFORE running `xiaoan db upgrade`.

Revision ID: 0005_crash
Revises: 0004_wechat
Create Date: 2026-12-05 01:40:00
"""
import json

import sqlalchemy as sa
from alembic import op

import xiaoan.db

revision = '0005_crash'
down_revision = '0004_wechat'
branch_labels = None
depends_on = None

TICKET_COLUMNS = ("complainant_name", "phone", "complainant_address")


def upgrade() -> None:
    from xiaoan.crypto import is_encrypted, keyring

    bind = op.get_bind()
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.alter_column('complainant_name', existing_type=sa.String(length=100), type_=sa.Text(),
                              existing_nullable=True)
        batch_op.alter_column('phone', existing_type=sa.String(length=32), type_=sa.Text(), existing_nullable=True)
        batch_op.add_column(sa.Column('phone_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('personal_data_removed_at', xiaoan.db.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_tickets_phone_hash', ['phone_hash'], unique=False)
    with op.batch_alter_table('ticket_outbox', schema=None) as batch_op:
        kwargs = {"postgresql_using": "payload::text"} if bind.dialect.name == "postgresql" else {}
        batch_op.alter_column('payload', existing_type=sa.JSON(), type_=sa.Text(), existing_nullable=False, **kwargs)

    ring = None
    rows = bind.execute(sa.text("SELECT id, complainant_name, phone, complainant_address FROM tickets")).all()
    for row in rows:
        ring = ring or keyring()
        values = {}
        for column, value in zip(TICKET_COLUMNS, row[1:]):
            if value is not None and not is_encrypted(value):
                values[column] = ring.encrypt(value, f"tickets.{column}")
        if row[2] is not None:
            phone = row[2] if not is_encrypted(row[2]) else ring.decrypt(row[2], "tickets.phone")
            values["phone_hash"] = ring.lookup_hash(phone)
        if values:
            assignments = ", ".join(f"{c} = :{c}" for c in values)
            bind.execute(sa.text(f"UPDATE tickets SET {assignments} WHERE id = :id"), {**values, "id": row[0]})
    for message_id, payload in bind.execute(sa.text("SELECT id, payload FROM ticket_outbox")).all():
        if payload is not None and not is_encrypted(payload):
            ring = ring or keyring()
            document = json.loads(payload) if isinstance(payload, str) else payload
            sealed = ring.encrypt(json.dumps(document, ensure_ascii=False, sort_keys=True), "ticket_outbox.payload")
            bind.execute(sa.text("UPDATE ticket_outbox SET payload = :p WHERE id = :id"), {"p": sealed, "id": message_id})


def downgrade() -> None:
    from xiaoan.crypto import keyring

    bind = op.get_bind()
    ring = keyring()
    for row in bind.execute(sa.text("SELECT id, complainant_name, phone, complainant_address FROM tickets")).all():
        values = {c: ring.decrypt(v, f"tickets.{c}") for c, v in zip(TICKET_COLUMNS, row[1:]) if v is not None}
        if values:
            assignments = ", ".join(f"{c} = :{c}" for c in values)
            bind.execute(sa.text(f"UPDATE tickets SET {assignments} WHERE id = :id"), {**values, "id": row[0]})
    for message_id, payload in bind.execute(sa.text("SELECT id, payload FROM ticket_outbox")).all():
        bind.execute(sa.text("UPDATE ticket_outbox SET payload = :p WHERE id = :id"),
                     {"p": ring.decrypt(payload, "ticket_outbox.payload"), "id": message_id})
    with op.batch_alter_table('ticket_outbox', schema=None) as batch_op:
        kwargs = {"postgresql_using": "payload::json"} if bind.dialect.name == "postgresql" else {}
        batch_op.alter_column('payload', existing_type=sa.Text(), type_=sa.JSON(), existing_nullable=False, **kwargs)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_phone_hash')
        batch_op.drop_column('personal_data_removed_at')
        batch_op.drop_column('phone_hash')
        batch_op.alter_column('phone', existing_type=sa.Text(), type_=sa.String(length=32), existing_nullable=True)
        batch_op.alter_column('complainant_name', existing_type=sa.Text(), type_=sa.String(length=100),
                              existing_nullable=True)
