"""api keys: drop the clear prefix, add expiry; the audit log of admin actions

Revision ID: 0003_authcli
Revises: 0003_oracle_item_aliases
Create Date: 2026-12-01 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
import app.db

revision: str = '0003_authcli'
down_revision: str | None = '0003_oracle_item_aliases'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('occurred_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('actor_key_id', sa.String(length=36), nullable=True),
    sa.Column('actor_label', sa.String(length=200), nullable=True),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=False),
    sa.Column('target_id', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_actor_key_id'), ['actor_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_target_id'), ['target_id'], unique=False)

    # Keys are looked up by the SHA-256 of the whole key, so existing keys keep working without the prefix.
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', app.db.UTCDateTime(), nullable=True))
        batch_op.drop_column('prefix')


def downgrade() -> None:
    # The clear prefix is gone for good; a downgrade fills the column with a placeholder.
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prefix', sa.String(length=16), nullable=False, server_default='sk_?'))
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.alter_column('prefix', server_default=None)

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_target_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_actor_key_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))
    op.drop_table('audit_events')
