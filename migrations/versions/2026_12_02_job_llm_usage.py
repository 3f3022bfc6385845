"""generation_jobs.llm_usage: the structured-output form a job used and each LLM call's token usage

Revision ID: 0011_job_llm_usage
Revises: 0010_assessment_precision
Create Date: 2026-12-02 16:00:00

A nullable JSON column: jobs from before it report no usage. The downgrade drops it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011_job_llm_usage'
down_revision: str | None = '0010_assessment_precision'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('generation_jobs') as batch_op:
        batch_op.add_column(sa.Column(
            'llm_usage', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True
        ))


def downgrade() -> None:
    with op.batch_alter_table('generation_jobs') as batch_op:
        batch_op.drop_column('llm_usage')
