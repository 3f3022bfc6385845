"""assessment_reviews: recorded human reviews of drafts (the gate before an LLM draft is published)

Revision ID: 0008_assessment_reviews
Revises: 0007_credential_shares
Create Date: 2026-12-02 15:10:00

A review names its reviewer, time, decision and checklist, and the hash of the items it covered. Publishing an
LLM-generated draft needs an approving review of its current items. The downgrade drops the table: LLM drafts
then publish without the gate, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
import app.db

revision: str = '0008_assessment_reviews'
down_revision: str | None = '0007_credential_shares'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('assessment_reviews',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('assessment_id', sa.String(length=36), nullable=False),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('decision', sa.String(length=32), nullable=False),
    sa.Column('checklist', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('items_hash', sa.String(length=64), nullable=False),
    sa.Column('reviewed_at', app.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("decision IN ('approved', 'changes_requested')",
                       name=op.f('ck_assessment_reviews_decision_known')),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessments.id'],
                            name=op.f('fk_assessment_reviews_assessment_id_assessments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_reviews'))
    )
    with op.batch_alter_table('assessment_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_reviews_assessment_id'), ['assessment_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('assessment_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessment_reviews_assessment_id'))
    op.drop_table('assessment_reviews')
