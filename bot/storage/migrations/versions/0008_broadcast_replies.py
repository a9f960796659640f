"""broadcast replies, attachments and the self-updating report

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachment", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("report_chat_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("report_message_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("broadcast_recipients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_prompt_id", sa.BigInteger(), nullable=True))
    op.create_table(
        "broadcast_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_replies_broadcast_id_broadcasts"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_broadcast_replies_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_replies")),
    )
    with op.batch_alter_table("broadcast_replies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_broadcast_replies_broadcast_id"), ["broadcast_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("broadcast_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcast_replies_broadcast_id"))
    op.drop_table("broadcast_replies")
    with op.batch_alter_table("broadcast_recipients", schema=None) as batch_op:
        batch_op.drop_column("reply_prompt_id")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("report_message_id")
        batch_op.drop_column("report_chat_id")
        batch_op.drop_column("attachment")
