"""issuer identity fixed at first start; stored ES256 signatures in low-S form

Revision ID: 0003_verifier_issuer_identity
Revises: 0003_authcli
Create Date: 2026-12-01 04:50:00

The verifier now accepts only low-S ES256 signatures (s <= n/2) so that no credential has a second,
malleated spelling. (r, s) and (r, n - s) are the same signature, so stored ES256 tokens whose s is high
are rewritten to the low-S form here, with no key needed; holders re-fetch them from
GET /v1/credentials/{id}. The downgrade keeps the rewritten tokens (both forms verify under older code).
"""

import base64
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.db

revision: str = '0003_verifier_issuer_identity'
down_revision: str | None = '0003_authcli'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _low_s(token: str) -> str | None:
    """The low-S form of an ES256 compact JWS whose s is high; None if nothing changes."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_b64decode(parts[0]))
        signature = _b64decode(parts[2])
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("alg") != "ES256" or len(signature) != 64:
        return None
    s = int.from_bytes(signature[32:], "big")
    if s <= P256_ORDER // 2:
        return None
    low = signature[:32] + (P256_ORDER - s).to_bytes(32, "big")
    return f"{parts[0]}.{parts[1]}." + base64.urlsafe_b64encode(low).rstrip(b"=").decode("ascii")


def upgrade() -> None:
    op.create_table('issuer_identities',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('public_url', sa.String(length=2048), nullable=False),
    sa.Column('did', sa.String(length=2048), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=True),
    sa.Column('adopted_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('retired_at', app.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_identities')),
    sa.UniqueConstraint('current', name=op.f('uq_issuer_identities_current')),
    sa.UniqueConstraint('public_url', name=op.f('uq_issuer_identities_public_url'))
    )

    connection = op.get_bind()
    credentials = sa.table('credentials', sa.column('id', sa.String), sa.column('jwt', sa.Text))
    rows = connection.execute(sa.select(credentials.c.id, credentials.c.jwt).where(credentials.c.jwt.isnot(None)))
    rewrites = [(row.id, low) for row in rows if (low := _low_s(row.jwt)) is not None]
    for credential_id, token in rewrites:
        connection.execute(credentials.update().where(credentials.c.id == credential_id).values(jwt=token))


def downgrade() -> None:
    op.drop_table('issuer_identities')
