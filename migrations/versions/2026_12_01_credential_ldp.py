"""credentials.ldp: the credential secured with an embedded Data Integrity proof (eddsa-rdfc-2022)

Revision ID: 0005_credential_ldp
Revises: 0004_status_message_entries
Create Date: 2026-12-01 10:00:00

Nullable: credentials issued before Data Integrity proofs have none (their `ldp` reads null).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.db

revision: str = '0005_credential_ldp'
down_revision: str | None = '0004_status_message_entries'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ldp', app.db.JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_column('ldp')
