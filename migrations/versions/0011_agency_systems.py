"""Agency-system tokens do what their scopes say, and nothing else.

The scope catalogue is now ``referrals:write`` and ``referrals:read`` (services/auth/tokens.py).
``children:read`` and ``notifications:read`` granted nothing and are withdrawn: a system never
sees more than its agency's staff (DESIGN.md §4), and a child's record or a person's
notifications are read by people. Stored tokens lose the two scopes; a token left with no scope
is revoked, so that it shows as revoked instead of failing on every call. A CHECK keeps any other
scope out of the table.

``referrals:write`` needs nothing new here: the system files a referral in the name of one
person of its agency (``on_behalf_of``), and the transaction carries that person's identity, so
the write policies of 0009_write_policies judge it as that person's filing. The audit trail
records the agency system as the actor kind and the token as the session reference.

``referrals:read`` is the referrer's status-only view for the agency's system: it may read the
status updates (received / accepted / no further action / closed) of referrals its agency filed,
as any caseworker of the agency may (services/policy.py, ``can_referral(..., "status")``). The
identity services.db.set_actor sets for such a token has no user, the token's agency and roles
``scope:<scope>``, and actor kind ``agency_system``.

Revision ID: 0011_agency_systems
Revises: 0010_merge
"""
from alembic import op

revision = "0011_agency_systems"
down_revision = "0010_merge"
branch_labels = None
depends_on = None

SCOPES = ("referrals:write", "referrals:read")
CATALOGUE = "ARRAY[" + ", ".join(f"'{s}'" for s in SCOPES) + "]::text[]"

UPGRADE = f"""
UPDATE api_tokens
   SET scopes = ARRAY(SELECT s FROM unnest(scopes) s WHERE s = ANY ({CATALOGUE}) ORDER BY s)
 WHERE kind = 'agency_system' AND NOT scopes <@ {CATALOGUE};
UPDATE api_tokens SET revoked_at = now()
 WHERE kind = 'agency_system' AND cardinality(scopes) = 0 AND revoked_at IS NULL;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_agency_scopes
  CHECK (kind <> 'agency_system' OR scopes <@ {CATALOGUE});

-- An agency's system, not acting for a person, holding a token with this scope.
CREATE FUNCTION qorgau_agency_system_may(p_scope text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT current_setting('qorgau.actor_kind', true) = 'agency_system' AND qorgau_uid() IS NULL
     AND qorgau_has_role('scope:' || p_scope)
$$;

CREATE POLICY referrer_updates_agency_system ON referrer_updates FOR SELECT USING (
  qorgau_agency_system_may('referrals:read') AND referring_agency_id = qorgau_aid());
"""

DOWNGRADE = """
DROP POLICY referrer_updates_agency_system ON referrer_updates;
DROP FUNCTION qorgau_agency_system_may(text);
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_agency_scopes;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    # The withdrawn scopes are not given back: they never allowed anything.
    op.execute(DOWNGRADE)
