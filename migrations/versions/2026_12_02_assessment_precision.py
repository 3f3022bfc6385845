"""assessment_precision: the decision precision an assessment was published with

Revision ID: 0010_assessment_precision
Revises: 0009_item_calibration
Create Date: 2026-12-02 15:00:00

Publishing computes the design's precision at its pass mark (app/grading/precision.py) and keeps it with the
assessment. Assessments published before stay NULL (their precision was never stated). The downgrade drops
the column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.db

revision: str = '0010_assessment_precision'
down_revision: str | None = '0009_item_calibration'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('precision', app.db.JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.drop_column('precision')
