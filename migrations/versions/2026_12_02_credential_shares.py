"""credential_shares: public share pages of credentials (/c/{share_id})

Revision ID: 0007_credential_shares
Revises: 0006_credential_awards
Create Date: 2026-12-02 10:00:00

A learner shares a credential at an unguessable URL; taking it down keeps the row (the page then answers 410
Gone, never a new credential's page). One active share per credential: `active_credential_id` is unique and
set only while the share is up (NULL once taken down), which a check constraint ties to `taken_down_at`.
The downgrade drops the table: every share page then answers 404.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.db

revision: str = '0007_credential_shares'
down_revision: str | None = '0006_credential_awards'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('credential_shares',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('credential_id', sa.String(length=36), nullable=False),
    sa.Column('active_credential_id', sa.String(length=36), nullable=True),
    sa.Column('show_score', sa.Boolean(), nullable=False),
    sa.Column('show_name', sa.Boolean(), nullable=False),
    sa.Column('indexable', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('taken_down_at', app.db.UTCDateTime(), nullable=True),
    sa.CheckConstraint(
        '(taken_down_at IS NULL AND active_credential_id = credential_id) '
        'OR (taken_down_at IS NOT NULL AND active_credential_id IS NULL)',
        name=op.f('ck_credential_shares_active_until_taken_down'),
    ),
    sa.ForeignKeyConstraint(['credential_id'], ['credentials.id'],
                            name=op.f('fk_credential_shares_credential_id_credentials')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credential_shares')),
    sa.UniqueConstraint('active_credential_id', name=op.f('uq_credential_shares_active_credential_id'))
    )
    with op.batch_alter_table('credential_shares', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credential_shares_credential_id'), ['credential_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('credential_shares', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credential_shares_credential_id'))
    op.drop_table('credential_shares')
