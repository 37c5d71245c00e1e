"""implementation tracking: actions clustering a State's recommendations, their supporting
institutions, indicators, progress reports with indicator values, and NHRI / civil society
comments on progress; needs attach to actions

Enums are text with CHECK constraints (no native types to drop on downgrade).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 19:17:29.155344
"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel.sql.sqltypes.AutoString)
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: Union[str, None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "implementation_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_iso3", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("lead_institution", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "lead_institution_kind",
            sa.Enum(
                "GOVERNMENT_MINISTRY",
                "PARLIAMENT",
                "JUDICIARY",
                "NHRI",
                "CIVIL_SOCIETY",
                "ACADEMIA",
                "OTHER",
                name="lead_institution_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("lead_organization_id", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column(
            "visibility",
            sa.Enum(
                "PRIVATE", "PARTNERS", "PUBLIC", name="visibility", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('english', coalesce(title, '')), 'A') || setweight(to_tsvector('english', coalesce(description, '')), 'B')",
                persisted=True,
            ),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "end_date is null or start_date is null or end_date >= start_date",
            name=op.f("ck_implementation_action_timeframe_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["lead_organization_id"],
            ["organization.id"],
            name=op.f("fk_implementation_action_lead_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(["state_iso3"], ["state.iso3"], name=op.f("fk_implementation_action_state_iso3_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_implementation_action")),
    )
    op.create_index(
        "ix_implementation_action_created_at_id", "implementation_action", ["created_at", "id"], unique=False
    )
    op.create_index(
        "ix_implementation_action_search_vector",
        "implementation_action",
        ["search_vector"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(op.f("ix_implementation_action_state_iso3"), "implementation_action", ["state_iso3"], unique=False)
    op.create_index(op.f("ix_implementation_action_visibility"), "implementation_action", ["visibility"], unique=False)
    op.create_table(
        "action_indicator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("baseline", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("target", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["implementation_action.id"],
            name=op.f("fk_action_indicator_action_id_implementation_action"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_indicator")),
    )
    op.create_index(op.f("ix_action_indicator_action_id"), "action_indicator", ["action_id"], unique=False)
    op.create_table(
        "action_need",
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["implementation_action.id"],
            name=op.f("fk_action_need_action_id_implementation_action"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["need_id"], ["assistance_need.id"], name=op.f("fk_action_need_need_id_assistance_need"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("action_id", "need_id", name=op.f("pk_action_need")),
    )
    op.create_index(op.f("ix_action_need_need_id"), "action_need", ["need_id"], unique=False)
    op.create_table(
        "action_recommendation",
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["implementation_action.id"],
            name=op.f("fk_action_recommendation_action_id_implementation_action"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendation.id"],
            name=op.f("fk_action_recommendation_recommendation_id_recommendation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("action_id", "recommendation_id", name=op.f("pk_action_recommendation")),
    )
    op.create_index(
        op.f("ix_action_recommendation_recommendation_id"), "action_recommendation", ["recommendation_id"], unique=False
    )
    op.create_table(
        "action_supporting_institution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "GOVERNMENT_MINISTRY",
                "PARLIAMENT",
                "JUDICIARY",
                "NHRI",
                "CIVIL_SOCIETY",
                "ACADEMIA",
                "OTHER",
                name="supporting_institution_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["implementation_action.id"],
            name=op.f("fk_action_supporting_institution_action_id_implementation_action"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_action_supporting_institution_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_supporting_institution")),
    )
    op.create_index(
        op.f("ix_action_supporting_institution_action_id"), "action_supporting_institution", ["action_id"], unique=False
    )
    op.create_table(
        "progress_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "NOT_STARTED",
                "ONGOING",
                "PARTIAL",
                "COMPLETED",
                name="implementation_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("narrative", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "evidence_links", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False
        ),
        sa.Column(
            "visibility",
            sa.Enum(
                "PRIVATE", "PARTNERS", "PUBLIC", name="visibility", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["implementation_action.id"],
            name=op.f("fk_progress_report_action_id_implementation_action"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_report")),
    )
    op.create_index(
        "ix_progress_report_action_reported", "progress_report", ["action_id", "reported_on", "id"], unique=False
    )
    op.create_table(
        "progress_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("length(body) between 1 and 10000", name=op.f("ck_progress_comment_body_length")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organization.id"], name=op.f("fk_progress_comment_organization_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["progress_report.id"],
            name=op.f("fk_progress_comment_report_id_progress_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_comment")),
    )
    op.create_index(op.f("ix_progress_comment_organization_id"), "progress_comment", ["organization_id"], unique=False)
    op.create_index(op.f("ix_progress_comment_report_id"), "progress_comment", ["report_id"], unique=False)
    op.create_table(
        "progress_indicator_value",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["action_indicator.id"],
            name=op.f("fk_progress_indicator_value_indicator_id_action_indicator"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["progress_report.id"],
            name=op.f("fk_progress_indicator_value_report_id_progress_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", "indicator_id", name=op.f("pk_progress_indicator_value")),
    )
    op.create_index(
        op.f("ix_progress_indicator_value_indicator_id"), "progress_indicator_value", ["indicator_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_progress_indicator_value_indicator_id"), table_name="progress_indicator_value")
    op.drop_table("progress_indicator_value")
    op.drop_index(op.f("ix_progress_comment_report_id"), table_name="progress_comment")
    op.drop_index(op.f("ix_progress_comment_organization_id"), table_name="progress_comment")
    op.drop_table("progress_comment")
    op.drop_index("ix_progress_report_action_reported", table_name="progress_report")
    op.drop_table("progress_report")
    op.drop_index(op.f("ix_action_supporting_institution_action_id"), table_name="action_supporting_institution")
    op.drop_table("action_supporting_institution")
    op.drop_index(op.f("ix_action_recommendation_recommendation_id"), table_name="action_recommendation")
    op.drop_table("action_recommendation")
    op.drop_index(op.f("ix_action_need_need_id"), table_name="action_need")
    op.drop_table("action_need")
    op.drop_index(op.f("ix_action_indicator_action_id"), table_name="action_indicator")
    op.drop_table("action_indicator")
    op.drop_index(op.f("ix_implementation_action_visibility"), table_name="implementation_action")
    op.drop_index(op.f("ix_implementation_action_state_iso3"), table_name="implementation_action")
    op.drop_index("ix_implementation_action_search_vector", table_name="implementation_action", postgresql_using="gin")
    op.drop_index("ix_implementation_action_created_at_id", table_name="implementation_action")
    op.drop_table("implementation_action")
