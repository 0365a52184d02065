"""Erased people: their email and customer number as one-way hashes.

`erased_people` keeps, per erasure, the SHA-256 of the trimmed, lower-cased
email address and customer number (either may be missing) and the day of the
erasure. Intake refuses a departure of that person dated on or before that
day, so an old export or a replayed event does not bring back what was
erased (karn.customers.erased). The two hashes are looked up with IN lists
per batch of records, hence an index on each.

People erased before this revision have no customer number left to hash, but
their address is on the suppression list as a hash without the address
(email IS NULL: only an erasure removes it). Each such entry is copied here:

- reason 'erased': the entry was written by the erasure, so its created_at
  is the day of the erasure;
- any other reason: the address was suppressed (an unsubscribe, a bounce)
  before it was erased, on a day no longer known. The latest erasure of any
  customer is used, which is on or after it: a departure of the person after
  their real erasure but before that day is refused too, until an
  administrator adds them again.

Days are UTC days here (the company's time zone is a setting the migration
does not read); the application writes days in the company's time zone.
Downgrading drops the table and the copies with it; the suppression list is
not changed either way.

Revision ID: 6903adba9af0
Revises: d4ba5ef2e9be
Create Date: 2026-12-07 04:10:00.000000

"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '6903adba9af0'
down_revision = 'd4ba5ef2e9be'
branch_labels = None
depends_on = None

BATCH = 1000


def _day(moment: datetime | None):
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def _copy_suppressed_erasures() -> None:
    bind = op.get_bind()
    suppressions = sa.table(
        'suppressions',
        sa.column('email_hash', sa.String),
        sa.column('email', sa.String),
        sa.column('reason', sa.String),
        sa.column('created_at', sa.DateTime(timezone=True)),
    )
    customers = sa.table('customers', sa.column('erased_at', sa.DateTime(timezone=True)))
    erased_people = sa.table(
        'erased_people',
        sa.column('email_hash', sa.String),
        sa.column('external_id_hash', sa.String),
        sa.column('erased_on', sa.Date),
    )
    latest = _day(bind.scalar(sa.select(sa.func.max(customers.c.erased_at))))
    rows = bind.execute(
        sa.select(
            suppressions.c.email_hash,
            suppressions.c.reason,
            suppressions.c.created_at,
        )
        .where(suppressions.c.email.is_(None))
        .order_by(suppressions.c.email_hash)
    ).all()
    copies = []
    for email_hash, reason, created_at in rows:
        day = _day(created_at)
        if reason != 'erased' and latest is not None:
            day = max(day, latest)
        copies.append({'email_hash': email_hash, 'external_id_hash': None, 'erased_on': day})
    for start in range(0, len(copies), BATCH):
        bind.execute(sa.insert(erased_people), copies[start:start + BATCH])


def upgrade():
    op.create_table('erased_people',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=True),
    sa.Column('external_id_hash', sa.String(length=64), nullable=True),
    sa.Column('erased_on', sa.Date(), nullable=False),
    sa.CheckConstraint('email_hash IS NOT NULL OR external_id_hash IS NOT NULL', name=op.f('ck_erased_people_identified')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erased_people'))
    )
    with op.batch_alter_table('erased_people', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erased_people_email_hash'), ['email_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_erased_people_external_id_hash'), ['external_id_hash'], unique=False)

    _copy_suppressed_erasures()


def downgrade():
    with op.batch_alter_table('erased_people', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erased_people_external_id_hash'))
        batch_op.drop_index(batch_op.f('ix_erased_people_email_hash'))

    op.drop_table('erased_people')
