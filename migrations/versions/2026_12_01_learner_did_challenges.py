"""learner DID registration: single-use challenges a learner signs with the DID's key

Revision ID: 0004_learner_did_challenges
Revises: 0003_verifier_issuer_identity
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.db

revision: str = '0004_learner_did_challenges'
down_revision: str | None = '0003_verifier_issuer_identity'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'did_challenges',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('learner_id', sa.String(length=36), nullable=False),
        sa.Column('challenge', sa.String(length=64), nullable=False),
        sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
        sa.Column('expires_at', app.db.UTCDateTime(), nullable=False),
        sa.Column('used_at', app.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['learner_id'], ['learners.id'], name=op.f('fk_did_challenges_learner_id_learners')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_did_challenges')),
        sa.UniqueConstraint('challenge', name=op.f('uq_did_challenges_challenge')),
    )
    with op.batch_alter_table('did_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_did_challenges_learner_id'), ['learner_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('did_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_did_challenges_learner_id'))
    op.drop_table('did_challenges')
