"""credentials.kind: manual awards (POST /credentials/issue) have no attempt and no assessment

Revision ID: 0006_credential_awards
Revises: 0005_credential_ldp
Create Date: 2026-12-02 10:00:00

Every existing credential is `graded` (a passed attempt). An `award` is issued by an admin through the W3C
VC API issuer route: its attempt_id and assessment_id are null, which a check constraint ties to its kind.
The downgrade refuses while any award exists: the previous schema requires an attempt for every credential,
and dropping issued credentials (which holders and verifiers rely on) is not a migration's decision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_credential_awards'
down_revision: str | None = '0005_credential_ldp'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='graded', nullable=False))
        batch_op.alter_column('attempt_id', existing_type=sa.String(length=36), nullable=True)
        batch_op.alter_column('assessment_id', existing_type=sa.String(length=36), nullable=True)
        batch_op.create_check_constraint('kind_known', "kind IN ('graded', 'award')")
        batch_op.create_check_constraint(
            'kind_matches_attempt',
            "(kind = 'graded' AND attempt_id IS NOT NULL AND assessment_id IS NOT NULL) "
            "OR (kind = 'award' AND attempt_id IS NULL AND assessment_id IS NULL)",
        )


def downgrade() -> None:
    connection = op.get_bind()
    awards = connection.execute(sa.text("SELECT count(*) FROM credentials WHERE kind = 'award'")).scalar_one()
    if awards:
        raise RuntimeError(
            f"{awards} manually awarded credential(s) exist (credentials.kind = 'award'); the previous schema "
            "requires an attempt for every credential, so it cannot hold them. Downgrading would mean deleting "
            "issued credentials: do that deliberately (and their status entries) first, if it is really meant."
        )
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_credentials_kind_matches_attempt'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_credentials_kind_known'), type_='check')
        batch_op.alter_column('assessment_id', existing_type=sa.String(length=36), nullable=False)
        batch_op.alter_column('attempt_id', existing_type=sa.String(length=36), nullable=False)
        batch_op.drop_column('kind')
