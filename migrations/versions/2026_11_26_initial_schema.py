"""initial schema

Revision ID: 0001_initial
Revises: 
Create Date: 2026-11-26 08:21:14.157841
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
import app.db

revision: str = '0001_initial'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('assessments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('skill', sa.String(length=100), nullable=False),
    sa.Column('skill_name', sa.String(length=200), nullable=False),
    sa.Column('skill_description', sa.String(length=1000), nullable=False),
    sa.Column('level', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('generator', sa.String(length=16), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('time_limit_seconds', sa.Integer(), nullable=False),
    sa.Column('pass_percent', sa.Float(), nullable=False),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('rubric', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('published_at', app.db.UTCDateTime(), nullable=True),
    sa.CheckConstraint("status = 'draft' OR content_hash IS NOT NULL", name=op.f('ck_assessments_published_has_hash')),
    sa.CheckConstraint("status IN ('draft', 'published')", name=op.f('ck_assessments_status_known')),
    sa.CheckConstraint('pass_percent >= 0 AND pass_percent <= 100', name=op.f('ck_assessments_pass_percent_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessments'))
    )
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessments_skill'), ['skill'], unique=False)

    op.create_table('learners',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('did', sa.String(length=2000), nullable=True),
    sa.Column('subject_urn', sa.String(length=100), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_learners')),
    sa.UniqueConstraint('subject_urn', name=op.f('uq_learners_subject_urn'))
    )
    op.create_table('status_lists',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('length', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('allocated', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("purpose IN ('revocation', 'suspension')", name=op.f('ck_status_lists_purpose_known')),
    sa.CheckConstraint('length >= 131072', name=op.f('ck_status_lists_length_minimum')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_lists'))
    )
    with op.batch_alter_table('status_lists', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_status_lists_purpose'), ['purpose'], unique=False)

    op.create_table('api_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('learner_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', app.db.UTCDateTime(), nullable=True),
    sa.CheckConstraint("role = 'admin' OR learner_id IS NOT NULL", name=op.f('ck_api_keys_learner_key_has_learner')),
    sa.CheckConstraint("role IN ('admin', 'learner')", name=op.f('ck_api_keys_role_known')),
    sa.ForeignKeyConstraint(['learner_id'], ['learners.id'], name=op.f('fk_api_keys_learner_id_learners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_learner_id'), ['learner_id'], unique=False)

    op.create_table('attempts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('assessment_id', sa.String(length=36), nullable=False),
    sa.Column('learner_id', sa.String(length=36), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('started_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessments.id'], name=op.f('fk_attempts_assessment_id_assessments')),
    sa.ForeignKeyConstraint(['learner_id'], ['learners.id'], name=op.f('fk_attempts_learner_id_learners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attempts'))
    )
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempts_assessment_id'), ['assessment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attempts_learner_id'), ['learner_id'], unique=False)

    op.create_table('credentials',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('attempt_id', sa.String(length=36), nullable=False),
    sa.Column('learner_id', sa.String(length=36), nullable=False),
    sa.Column('assessment_id', sa.String(length=36), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('jwt', sa.Text(), nullable=True),
    sa.Column('kid', sa.String(length=100), nullable=True),
    sa.Column('issued_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessments.id'], name=op.f('fk_credentials_assessment_id_assessments')),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name=op.f('fk_credentials_attempt_id_attempts')),
    sa.ForeignKeyConstraint(['learner_id'], ['learners.id'], name=op.f('fk_credentials_learner_id_learners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials')),
    sa.UniqueConstraint('attempt_id', name=op.f('uq_credentials_attempt_id'))
    )
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credentials_assessment_id'), ['assessment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_credentials_learner_id'), ['learner_id'], unique=False)

    op.create_table('grades',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('attempt_id', sa.String(length=36), nullable=False),
    sa.Column('responses', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('max_score', sa.Float(), nullable=False),
    sa.Column('percent', sa.Float(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('item_scores', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response_body', sa.Text(), nullable=False),
    sa.Column('graded_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name=op.f('fk_grades_attempt_id_attempts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grades')),
    sa.UniqueConstraint('attempt_id', name=op.f('uq_grades_attempt_id'))
    )
    op.create_table('status_entries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('list_id', sa.String(length=36), nullable=False),
    sa.Column('status_index', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.String(length=36), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('is_set', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint('status_index >= 0', name=op.f('ck_status_entries_index_non_negative')),
    sa.ForeignKeyConstraint(['credential_id'], ['credentials.id'], name=op.f('fk_status_entries_credential_id_credentials')),
    sa.ForeignKeyConstraint(['list_id'], ['status_lists.id'], name=op.f('fk_status_entries_list_id_status_lists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_entries')),
    sa.UniqueConstraint('credential_id', 'purpose', name=op.f('uq_status_entries_credential_id_purpose')),
    sa.UniqueConstraint('list_id', 'status_index', name=op.f('uq_status_entries_list_id_status_index'))
    )
    


def downgrade() -> None:
    
    op.drop_table('status_entries')
    op.drop_table('grades')
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credentials_learner_id'))
        batch_op.drop_index(batch_op.f('ix_credentials_assessment_id'))

    op.drop_table('credentials')
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attempts_learner_id'))
        batch_op.drop_index(batch_op.f('ix_attempts_assessment_id'))

    op.drop_table('attempts')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_learner_id'))

    op.drop_table('api_keys')
    with op.batch_alter_table('status_lists', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_status_lists_purpose'))

    op.drop_table('status_lists')
    op.drop_table('learners')
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessments_skill'))

    op.drop_table('assessments')
    
