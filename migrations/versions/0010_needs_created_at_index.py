"""index needs by (created_at, id): the default order of the needs list

Without it the first page of `needs` sorted every visible need (a top-N heapsort over the
table: 113 ms at 100,000 needs); with it PostgreSQL reads the index backwards and stops after
the page.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:00:00
"""

from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: Union[str, None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_assistance_need_created_at_id", "assistance_need", ["created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_assistance_need_created_at_id", table_name="assistance_need")
