"""index only the matches that have lessons learned

Every suggestion (hundreds of thousands after a full rematch) used to get an entry in the
lessons GIN index although only completed engagements carry lessons; inserting those empty
entries was a third of the cost of writing suggestions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 05:30:00
"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: Union[str, None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_index("ix_match_lessons_vector", table_name="match", postgresql_using="gin")
    op.create_index(
        "ix_match_lessons_vector",
        "match",
        ["lessons_vector"],
        unique=False,
        postgresql_using="gin",
        postgresql_where=sa.text("lessons_learned IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_match_lessons_vector", table_name="match", postgresql_using="gin")
    op.create_index("ix_match_lessons_vector", "match", ["lessons_vector"], unique=False, postgresql_using="gin")
