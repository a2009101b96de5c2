"""Join the branches that clocks, referrals, cases and the policy fixes grew from in parallel, so
the history has one head again and later revisions have one parent.

Revision ID: 0008_merge
Revises: 0003_clocks, 0005_referrals, 0006_cases, 0007_policy_fixes
"""

revision = "0008_merge"
down_revision = ("0003_clocks", "0005_referrals", "0006_cases", "0007_policy_fixes")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
