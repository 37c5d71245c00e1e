"""event log (outbox) for live updates and sync

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 02:40:00
"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: Union[str, None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Numbers are drawn at commit time under an advisory lock (service/events/outbox.py),
    # so the log's order is commit order.
    op.execute("create sequence event_sequence_seq as bigint")
    op.create_table(
        "event",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("entity_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("entity_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=True),
        sa.Column("states", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
        sa.Column("themes", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
        sa.Column(
            "organization_ids",
            postgresql.ARRAY(sa.Integer()),
            server_default=sa.text("'{}'::integer[]"),
            nullable=False,
        ),
        sa.Column(
            "payload", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_event")),
    )
    op.create_index("ix_event_occurred_at", "event", ["occurred_at"], unique=False)
    op.create_index(op.f("ix_event_need_id"), "event", ["need_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_event_need_id"), table_name="event")
    op.drop_index("ix_event_occurred_at", table_name="event")
    op.drop_table("event")
    op.execute("drop sequence event_sequence_seq")
