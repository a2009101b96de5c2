"""Cases: closure requests, reopen count, instructions' addressee and due time, the review outcome
of emergency grants, and the indexes the case and chronology lists walk.

Revision ID: 0006_cases
Revises: 0004_core
"""
from alembic import op

revision = "0006_cases"
down_revision = "0004_core"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE cases
    ADD COLUMN closure_requested_at timestamptz,
    ADD COLUMN closure_requested_by bigint REFERENCES users(id),
    ADD COLUMN reopen_count integer NOT NULL DEFAULT 0,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- An instruction (oversight's annotation, PRACTICE.md §6) is addressed to one agency taking part
-- and may carry the time by which it must be answered; the Clocks work starts a clock from it.
ALTER TABLE chronology_entries
    ADD COLUMN addressed_agency_id bigint REFERENCES agencies(id),
    ADD COLUMN due_at timestamptz,
    ADD CONSTRAINT chronology_instruction_fields CHECK (
        kind = 'instruction' OR (addressed_agency_id IS NULL AND due_at IS NULL));

-- An assessment's outcome is a code every participant may read; its written summary is an
-- assessment_result chronology entry, whose visibility the author chooses.
ALTER TABLE assessments
    ADD COLUMN result_entry_id bigint REFERENCES chronology_entries(id),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

ALTER TABLE access_grants
    ADD COLUMN review_outcome text CHECK (review_outcome IN ('justified', 'unjustified')),
    ADD CONSTRAINT access_grants_review_complete CHECK (
        (reviewed_at IS NULL) = (review_outcome IS NULL));

-- The lists: oversight walks its region newest first, optionally by state; the corrections of
-- an entry are looked up by the entry they correct; the timelines page by (time, id).
CREATE INDEX cases_region_state_idx ON cases (region_id, state, id DESC);
CREATE INDEX chronology_corrects_idx ON chronology_entries (corrects_id) WHERE corrects_id IS NOT NULL;
CREATE INDEX chronology_case_page_idx ON chronology_entries (case_id, occurred_at, id);
CREATE INDEX chronology_child_page_idx ON chronology_entries (child_id, occurred_at, id);
CREATE INDEX approvals_case_idx ON approvals (case_id) WHERE case_id IS NOT NULL;
CREATE INDEX approvals_assessment_idx ON approvals (assessment_id) WHERE assessment_id IS NOT NULL;
CREATE INDEX access_grants_child_idx ON access_grants (child_id);
CREATE INDEX access_grants_agency_page_idx ON access_grants (agency_id, id DESC);
CREATE INDEX access_grants_region_page_idx ON access_grants (region_id, id DESC);
-- cases_one_open_per_child covers open cases only; a child's whole history needs every case.
CREATE INDEX cases_child_idx ON cases (child_id);
"""

DOWNGRADE = """
DROP INDEX cases_child_idx, access_grants_region_page_idx, access_grants_agency_page_idx,
    access_grants_child_idx, approvals_assessment_idx, approvals_case_idx,
    chronology_child_page_idx, chronology_case_page_idx, chronology_corrects_idx,
    cases_region_state_idx;
ALTER TABLE access_grants DROP CONSTRAINT access_grants_review_complete, DROP COLUMN review_outcome;
ALTER TABLE assessments DROP COLUMN updated_at, DROP COLUMN result_entry_id;
ALTER TABLE chronology_entries DROP CONSTRAINT chronology_instruction_fields,
    DROP COLUMN due_at, DROP COLUMN addressed_agency_id;
ALTER TABLE cases DROP COLUMN updated_at, DROP COLUMN reopen_count,
    DROP COLUMN closure_requested_by, DROP COLUMN closure_requested_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
