"""one status entry per credential: `message` lists of 2-bit entries (revoked, suspended)

Revision ID: 0004_status_message_entries
Revises: 0004_learner_did_challenges
Create Date: 2026-12-01 09:00:00

Bitstring Status List v1.0 §2.1: a `message` entry with statusSize 2 carries revocation (bit 2) and
suspension (bit 1) in one `credentialStatus` object, as Open Badges 3.0 allows only one. Lists gain
`status_size` (1 for the existing revocation and suspension lists) and entries an integer `value` in
place of the boolean `is_set` (is_set true -> 1). Existing credentials keep their two entries.
The downgrade refuses while any `message` list exists: old code could not publish or read it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_status_message_entries'
down_revision: str | None = '0004_learner_did_challenges'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('status_lists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_size', sa.Integer(), server_default='1', nullable=False))
        batch_op.drop_constraint(batch_op.f('ck_status_lists_purpose_known'), type_='check')
        batch_op.create_check_constraint(
            'purpose_known', "purpose IN ('revocation', 'suspension', 'message')"
        )
        batch_op.create_check_constraint('status_size_range', 'status_size BETWEEN 1 AND 8')
    with op.batch_alter_table('status_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('value', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint('value_non_negative', 'value >= 0')
    op.execute(sa.text("UPDATE status_entries SET value = CASE WHEN is_set THEN 1 ELSE 0 END"))
    with op.batch_alter_table('status_entries', schema=None) as batch_op:
        batch_op.drop_column('is_set')


def downgrade() -> None:
    connection = op.get_bind()
    if connection.execute(sa.text("SELECT count(*) FROM status_lists WHERE purpose = 'message'")).scalar_one():
        raise RuntimeError(
            "credentials with a one-entry (message) status exist; the previous schema cannot hold them"
        )
    with op.batch_alter_table('status_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_set', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(sa.text("UPDATE status_entries SET is_set = (value <> 0)"))
    with op.batch_alter_table('status_entries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_status_entries_value_non_negative'), type_='check')
        batch_op.drop_column('value')
    with op.batch_alter_table('status_lists', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_status_lists_status_size_range'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_status_lists_purpose_known'), type_='check')
        batch_op.create_check_constraint('purpose_known', "purpose IN ('revocation', 'suspension')")
        batch_op.drop_column('status_size')
