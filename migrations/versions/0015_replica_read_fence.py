"""Read-your-writes on a read replica: the WAL position of a principal's last write.

Revision ID: 0015
Revises: 0013
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: Union[str, None] = "0013"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("rate_limit_bucket", sa.Column("written_lsn", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("rate_limit_bucket", "written_lsn")
