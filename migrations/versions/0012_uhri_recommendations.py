"""uhri recommendations: the mechanism (UPR, treaty body, special procedure), body, document
symbol, publication date, UHRI annotation id and UHRI theme names on recommendations; the
review becomes optional (treaty bodies and special procedures have none)

Existing rows are UPR recommendations (the server default).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 19:30:00
"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel.sql.sqltypes.AutoString)
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: Union[str, None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column(
        "recommendation",
        sa.Column(
            "source",
            sa.Enum(
                "UPR",
                "TREATY_BODY",
                "SPECIAL_PROCEDURE",
                name="recommendation_source",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="UPR",
            nullable=False,
        ),
    )
    op.add_column("recommendation", sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.add_column("recommendation", sa.Column("symbol", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.add_column("recommendation", sa.Column("publication_date", sa.Date(), nullable=True))
    op.add_column("recommendation", sa.Column("uhri_annotation_id", sa.Uuid(), nullable=True))
    op.add_column(
        "recommendation",
        sa.Column("uhri_themes", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    )
    op.create_index(op.f("ix_recommendation_body"), "recommendation", ["body"], unique=False)
    op.create_index(op.f("ix_recommendation_uhri_annotation_id"), "recommendation", ["uhri_annotation_id"], unique=True)
    op.alter_column("recommendation", "review_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # Recommendations without a review (treaty bodies, special procedures) cannot survive the
    # NOT NULL review of the previous schema: they go, with their links to needs (cascade).
    op.execute(
        "delete from need_recommendation where recommendation_id in (select id from recommendation where review_id is null)"
    )
    op.execute("delete from recommendation where review_id is null")
    op.alter_column("recommendation", "review_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index(op.f("ix_recommendation_uhri_annotation_id"), table_name="recommendation")
    op.drop_index(op.f("ix_recommendation_body"), table_name="recommendation")
    op.drop_column("recommendation", "uhri_themes")
    op.drop_column("recommendation", "uhri_annotation_id")
    op.drop_column("recommendation", "publication_date")
    op.drop_column("recommendation", "symbol")
    op.drop_column("recommendation", "body")
    op.drop_column("recommendation", "source")
