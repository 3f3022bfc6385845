"""item_calibration: Rasch difficulties, item reviews (quarantine) and the ability of a grade

Revision ID: 0009_item_calibration
Revises: 0008_assessment_reviews
Create Date: 2026-12-02 15:30:00

`item_calibrations` holds each calibrated item's current difficulty (one row per item; a run replaces the rows
of the skill and level it fits); `item_reviews` an item's first-attempt figures at the last run and its
quarantine; `grades.ability` the Rasch ability estimate of a grade whose scored items were all calibrated.
The downgrade drops them: drafts then freeze no calibration and every item is drawn again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.db

revision: str = '0009_item_calibration'
down_revision: str | None = '0008_assessment_reviews'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('item_calibrations',
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('skill', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=100), nullable=False),
    sa.Column('difficulty', sa.Float(), nullable=False),
    sa.Column('se', sa.Float(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('scale', sa.String(length=300), nullable=False),
    sa.Column('fitted_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_item_calibrations'))
    )
    op.create_index(op.f('ix_item_calibrations_skill'), 'item_calibrations', ['skill'], unique=False)
    op.create_table('item_reviews',
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('skill', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=100), nullable=False),
    sa.Column('responses', sa.Integer(), nullable=False),
    sa.Column('figures', app.db.JSONType, nullable=False),
    sa.Column('quarantined', sa.Boolean(), nullable=False),
    sa.Column('reasons', app.db.JSONType, nullable=False),
    sa.Column('quarantined_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('released_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('release_note', sa.String(length=1000), nullable=True),
    sa.Column('released_responses', sa.Integer(), nullable=True),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_item_reviews'))
    )
    op.create_index(op.f('ix_item_reviews_skill'), 'item_reviews', ['skill'], unique=False)
    with op.batch_alter_table('grades', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ability', app.db.JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('grades', schema=None) as batch_op:
        batch_op.drop_column('ability')
    op.drop_index(op.f('ix_item_reviews_skill'), table_name='item_reviews')
    op.drop_table('item_reviews')
    op.drop_index(op.f('ix_item_calibrations_skill'), table_name='item_calibrations')
    op.drop_table('item_calibrations')
