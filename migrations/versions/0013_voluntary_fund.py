"""UPR Voluntary Fund: rounds, versioned criteria, applications linked to needs, scores

Hand-checked after autogenerate. Enums are text with CHECK constraints (no native types to
drop); the downgrade drops every table and index it created.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 19:18:15.070598
"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel.sql.sqltypes.AutoString)
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: Union[str, None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "fund_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("budget", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "DRAFT",
                "OPEN",
                "CLOSED",
                "ALLOCATED",
                name="fund_round_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("min_partial_share", sa.Numeric(precision=4, scale=3), server_default="0.5", nullable=False),
        sa.Column("criteria_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("approval_note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("budget > 0", name=op.f("ck_fund_round_budget_positive")),
        sa.CheckConstraint("closes_on >= opens_on", name=op.f("ck_fund_round_window_ordered")),
        sa.CheckConstraint(
            "min_partial_share > 0 and min_partial_share <= 1", name=op.f("ck_fund_round_min_partial_share_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_round")),
        sa.UniqueConstraint("name", name=op.f("uq_fund_round_name")),
    )
    op.create_index(op.f("ix_fund_round_status"), "fund_round", ["status"], unique=False)
    op.create_table(
        "fund_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("state_iso3", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("requested_amount", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("co_financing", sa.Numeric(precision=16, scale=2), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "decision",
            sa.Enum(
                "FUNDED",
                "PARTIALLY_FUNDED",
                "NOT_FUNDED",
                name="fund_decision",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("allocated_amount", sa.Numeric(precision=16, scale=2), nullable=True),
        sa.Column("final_rank", sa.Integer(), nullable=True),
        sa.Column("final_score", sa.Float(), nullable=True),
        sa.Column("decision_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("allocated_amount >= 0", name=op.f("ck_fund_application_allocated_non_negative")),
        sa.CheckConstraint("co_financing >= 0", name=op.f("ck_fund_application_co_financing_non_negative")),
        sa.CheckConstraint("requested_amount > 0", name=op.f("ck_fund_application_requested_positive")),
        sa.ForeignKeyConstraint(
            ["round_id"], ["fund_round.id"], name=op.f("fk_fund_application_round_id_fund_round"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["state_iso3"], ["state.iso3"], name=op.f("fk_fund_application_state_iso3_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_application")),
        sa.UniqueConstraint("round_id", "state_iso3", name=op.f("uq_fund_application_round_id_state_iso3")),
    )
    op.create_index(op.f("ix_fund_application_round_id"), "fund_application", ["round_id"], unique=False)
    op.create_index(op.f("ix_fund_application_state_iso3"), "fund_application", ["state_iso3"], unique=False)
    op.create_table(
        "fund_criteria_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("weights", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["fund_round.id"],
            name=op.f("fk_fund_criteria_version_round_id_fund_round"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_criteria_version")),
        sa.UniqueConstraint("round_id", "version", name=op.f("uq_fund_criteria_version_round_id_version")),
    )
    op.create_table(
        "fund_application_need",
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["fund_application.id"],
            name=op.f("fk_fund_application_need_application_id_fund_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["need_id"],
            ["assistance_need.id"],
            name=op.f("fk_fund_application_need_need_id_assistance_need"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("application_id", "need_id", name=op.f("pk_fund_application_need")),
    )
    op.create_index(op.f("ix_fund_application_need_need_id"), "fund_application_need", ["need_id"], unique=False)
    op.create_table(
        "fund_score",
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("criteria_version", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("breakdown", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("score between 0 and 1", name=op.f("ck_fund_score_score_range")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["fund_application.id"],
            name=op.f("fk_fund_score_application_id_fund_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("application_id", "criteria_version", name=op.f("pk_fund_score")),
    )


def downgrade() -> None:
    op.drop_table("fund_score")
    op.drop_index(op.f("ix_fund_application_need_need_id"), table_name="fund_application_need")
    op.drop_table("fund_application_need")
    op.drop_table("fund_criteria_version")
    op.drop_index(op.f("ix_fund_application_state_iso3"), table_name="fund_application")
    op.drop_index(op.f("ix_fund_application_round_id"), table_name="fund_application")
    op.drop_table("fund_application")
    op.drop_index(op.f("ix_fund_round_status"), table_name="fund_round")
    op.drop_table("fund_round")
