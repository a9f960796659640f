"""compose targets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 19:56:26.789998
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "compose",
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_compose_case_id_cases")),
        sa.PrimaryKeyConstraint("telegram_id", name=op.f("pk_compose")),
    )


def downgrade() -> None:
    op.drop_table("compose")
