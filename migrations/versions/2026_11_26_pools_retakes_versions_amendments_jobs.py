"""pools retakes versions amendments jobs

Revision ID: 0002_pools_jobs
Revises: 0001_initial
Create Date: 2026-11-26 08:33:30.411372
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
import app.db

revision: str = '0002_pools_jobs'
down_revision: str | None = '0001_initial'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('amendments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('assessment_id', sa.String(length=36), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('regraded_attempts', sa.Integer(), nullable=False),
    sa.Column('newly_passed', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("action IN ('void_item')", name=op.f('ck_amendments_action_known')),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessments.id'], name=op.f('fk_amendments_assessment_id_assessments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_amendments')),
    sa.UniqueConstraint('assessment_id', 'item_id', name=op.f('uq_amendments_assessment_id_item_id'))
    )
    with op.batch_alter_table('amendments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_amendments_assessment_id'), ['assessment_id'], unique=False)

    op.create_table('generation_jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('request', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('assessment_id', sa.String(length=36), nullable=True),
    sa.Column('kept', sa.Integer(), nullable=False),
    sa.Column('dropped', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('started_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('finished_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('heartbeat_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f('ck_generation_jobs_status_known')),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessments.id'], name=op.f('fk_generation_jobs_assessment_id_assessments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_generation_jobs'))
    )
    with op.batch_alter_table('generation_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_generation_jobs_status'), ['status'], unique=False)

    op.create_table('grade_revisions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('grade_id', sa.String(length=36), nullable=False),
    sa.Column('amendment_id', sa.String(length=36), nullable=False),
    sa.Column('previous', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['amendment_id'], ['amendments.id'], name=op.f('fk_grade_revisions_amendment_id_amendments')),
    sa.ForeignKeyConstraint(['grade_id'], ['grades.id'], name=op.f('fk_grade_revisions_grade_id_grades')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grade_revisions'))
    )
    with op.batch_alter_table('grade_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grade_revisions_grade_id'), ['grade_id'], unique=False)

    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt_item_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_attempts', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('retake_cooldown_seconds', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('supersedes_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('provenance', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('dropped_items', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_assessments_supersedes_id_assessments'), 'assessments', ['supersedes_id'], ['id'])
        batch_op.create_unique_constraint(batch_op.f('uq_assessments_supersedes_id'), ['supersedes_id'])
        batch_op.drop_constraint(batch_op.f('ck_assessments_status_known'), type_='check')
        batch_op.create_check_constraint(
            batch_op.f('ck_assessments_status_known'), "status IN ('draft', 'published', 'superseded')"
        )

    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('item_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('attempt_number', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_attempts_assessment_id_learner_id_attempt_number'),
            ['assessment_id', 'learner_id', 'attempt_number'],
        )

    with op.batch_alter_table('grades', schema=None) as batch_op:
        batch_op.add_column(sa.Column('criteria', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('mastery', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('voided_items', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('grades', schema=None) as batch_op:
        batch_op.drop_column('voided_items')
        batch_op.drop_column('mastery')
        batch_op.drop_column('criteria')

    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_attempts_assessment_id_learner_id_attempt_number'), type_='unique')
        batch_op.drop_column('attempt_number')
        batch_op.drop_column('item_ids')

    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_assessments_status_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_assessments_status_known'), "status IN ('draft', 'published')")
        batch_op.drop_constraint(batch_op.f('uq_assessments_supersedes_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_assessments_supersedes_id_assessments'), type_='foreignkey')
        batch_op.drop_column('dropped_items')
        batch_op.drop_column('provenance')
        batch_op.drop_column('supersedes_id')
        batch_op.drop_column('version')
        batch_op.drop_column('retake_cooldown_seconds')
        batch_op.drop_column('max_attempts')
        batch_op.drop_column('attempt_item_count')

    with op.batch_alter_table('grade_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grade_revisions_grade_id'))

    op.drop_table('grade_revisions')
    with op.batch_alter_table('generation_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_generation_jobs_status'))

    op.drop_table('generation_jobs')
    with op.batch_alter_table('amendments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_amendments_assessment_id'))

    op.drop_table('amendments')

