"""The raw filing transaction: the writes ``POST /api/v1/referrals`` (submit: true) performs, as
plain SQL, for the pgbench baseline and the bare app.

Taken from the statements the endpoint sends (``services/referrals/actions.py``:
``file_referral`` and ``submit_referral``): the acting identity, a drawn referral id, the
referral, its referrer, child and recipient, the audit events ``referral_drafted`` and
``referral_submitted`` through the chaining trigger, the state change, the referrer's
``received`` update with its ``referrer_update_sent`` event, an outbox row, and the stored
idempotent response. The endpoint additionally authenticates the token, checks the policy and
the child, validates the body and reads the referral back; that is what the ratio prices.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

EVENT = """INSERT INTO audit.events (action, outcome, actor_kind, actor_user_id, actor_agency_id,
    actor_region_id, actor_roles, actor_mfa, object_type, object_id, child_id, purpose, request_id,
    client_addr, user_agent, session_ref, auth_strength, channel, details)
VALUES ('{action}', 'allowed', 'user', {user}, {agency}, {region}, '{{caseworker}}', false, 'referral',
    {id}::text, {child}, NULL, md5({id}::text), '127.0.0.1', 'bench', 'token:1', 'token', 'api',
    '{{"priority": "standard"}}');"""

STATEMENTS = (
    "SELECT set_config('qorgau.user_id', '{user}', true), set_config('qorgau.agency_id', '{agency}', true),"
    " set_config('qorgau.region_id', '{region}', true), set_config('qorgau.roles', 'caseworker', true),"
    " set_config('qorgau.actor_kind', 'user', true);",
    "INSERT INTO referrals (id, version, state, priority, categories, observed_at, observed_place,"
    " observation, risk, referring_agency_id, region_id, district_id, created_by) OVERRIDING SYSTEM VALUE"
    " VALUES ({id}, 1, 'draft', 'standard', '{{neglect}}', now() - interval '3 hours', 'школа',"
    " 'Ребёнок приходит в школу голодным.', '{{}}', {agency}, {region}, {district}, {user});",
    "INSERT INTO referral_referrers (referral_id, user_id, full_name, contact)"
    " SELECT {id}, u.id, u.full_name, NULL FROM users u WHERE u.id = {user};",
    "INSERT INTO referral_children (referral_id, child_id) VALUES ({id}, {child});",
    "INSERT INTO referral_recipients (referral_id, agency_id) VALUES ({id}, {recipient});",
    EVENT.replace("{action}", "referral_drafted"),
    "UPDATE referrals SET state = 'submitted', submitted_at = now(), updated_at = now()"
    " WHERE id = {id} AND state = 'draft';",
    EVENT.replace("{action}", "referral_submitted"),
    "INSERT INTO referrer_updates (referral_id, referring_agency_id, status) VALUES ({id}, {agency}, 'received');",
    EVENT.replace("{action}", "referrer_update_sent"),
    "INSERT INTO outbox (topic, payload) VALUES ('referral.submitted', jsonb_build_object('referral_id', {id}));",
    "INSERT INTO idempotency_keys (user_key, key, request_sha256, status_code, response)"
    " VALUES ('user:{user}', 'bench-' || {id}, md5({id}::text), 201, jsonb_build_object('id', {id}));",
)


@dataclass(frozen=True)
class Filer:
    """Who files, to whom, and about which children (one at random per referral: filing about
    one child over and over would grow that child's record without bound)."""

    user: int
    agency: int
    region: int
    district: int
    recipient: int
    children: tuple[int, ...]

    def __str__(self) -> str:
        return (f"{self.user},{self.agency},{self.region},{self.district},{self.recipient},"
                + ";".join(map(str, self.children)))

    @classmethod
    def parse(cls, text: str) -> "Filer":
        *head, children = text.split(",")
        return cls(*(int(x) for x in head), tuple(int(c) for c in children.split(";")))


def _values(filer: Filer, referral_id, child) -> dict:
    return {"user": filer.user, "agency": filer.agency, "region": filer.region,
            "district": filer.district, "child": child, "recipient": filer.recipient,
            "id": referral_id}


def pgbench_script(filer: Filer) -> str:
    """The transaction as a pgbench script (the id drawn with ``\\gset``, the child at random)."""
    child = f"(ARRAY[{','.join(map(str, filer.children))}])[:c]"
    lines = [f"\\set c random(1, {len(filer.children)})", "BEGIN;",
             "SELECT nextval('referrals_id_seq') AS rid \\gset"]
    lines += [s.format(**_values(filer, ":rid", child)) for s in STATEMENTS]
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def run_filing(conn, filer: Filer) -> int:
    """Run the transaction on ``conn`` (application role); the new referral's id."""
    child = random.choice(filer.children)
    with conn.transaction():
        referral_id = conn.execute("SELECT nextval('referrals_id_seq')").fetchone()[0]
        for statement in STATEMENTS:
            conn.execute(statement.format(**_values(filer, referral_id, child)))
    return referral_id
