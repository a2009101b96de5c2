"""Join the three revisions that grew from 0008_merge side by side — faster row-level security
reads, write policies for every table of child data, and the clocks' life cycle — so the history
has one head again. They touch disjoint objects (SELECT policies and their helpers; INSERT and
UPDATE policies, their helpers and triggers; clock functions and instruction answers), so the
order Alembic applies them in does not matter.

Revision ID: 0010_merge
Revises: 0009_read_speed, 0009_write_policies, 0009_clock_lifecycle
"""

revision = "0010_merge"
down_revision = ("0009_read_speed", "0009_write_policies", "0009_clock_lifecycle")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
