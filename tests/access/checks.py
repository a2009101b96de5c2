"""Two of the three ways to ask "may this user do this?": the policy module and PostgreSQL.

``policy_decisions`` loads facts through ``services.access`` and asks ``services.policy``.
``database_decisions`` acts as the application role with the identity set by
``services.db.set_actor`` and observes what row-level security lets through: the rows it may
SELECT, the rows an UPDATE reaches, the chronology entries it may INSERT. Both answer with the set
of (action, object name) pairs allowed, so the tests compare sets.
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager
from dataclasses import dataclass

from psycopg import sql as sql_

from services import access, policy
from services.db import set_actor
from tests.access.world import World

# Every action of the authorization file and the kind of object it is asked about.
ACTIONS = {
    "read_child": "child",
    "read_referral": "referral",
    "read_referral_status": "referral",
    "read_referrer": "referral",
    "screen_referral": "referral",
    "read_case": "case",
    "write_case": "case",
    "read_restricted": "case",
    "read_entry_body": "entry",
    "instruct": "case",
    "export": "case",
}

# The database cannot tell an export from a read, nor does it know the screening workflow (a
# decided referral is not screened again): for these two the database is the coarser backstop, and
# the check is that the application never allows what row-level security refuses.
IMPLIED = frozenset({"export", "screen_referral"})


@dataclass
class Facts:
    """Facts of every object of a world, loaded once through ``services.access``."""

    children: dict[str, policy.ChildFacts]
    referrals: dict[str, policy.ReferralFacts]
    cases: dict[str, policy.CaseFacts]

    @classmethod
    def load(cls, conn, w: World) -> "Facts":
        # A child's facts carry the facts of its cases and referrals: one load per child covers
        # every case, and every referral that names a child.
        children = {n: access.child_facts(conn, i) for n, i in w.children.items()}
        cases = {c.case_id: c for child in children.values() for c in child.cases}
        referrals = {r.referral_id: r for child in children.values() for r in child.referrals}
        return cls(children,
                   {n: referrals.get(i) or access.referral_facts(conn, i) for n, i in w.referrals.items()},
                   {n: cases.get(i) or access.case_facts(conn, i) for n, i in w.cases.items()})


def policy_allows(facts: Facts, w: World, actor, grants: policy.Grants, action: str, name: str) -> bool:
    """The policy module's answer for one action on one object."""
    if action == "read_child":
        return policy.can_child(actor, facts.children[name], grants, policy.READ)
    if action == "read_referral":
        return policy.can_referral(actor, facts.referrals[name], grants, policy.READ)
    if action == "read_referral_status":
        return policy.can_referral(actor, facts.referrals[name], grants, "status")
    if action == "screen_referral":
        return policy.can_referral(actor, facts.referrals[name], grants, "screen")
    if action == "read_referrer":
        return policy.can_read_referrer(actor, facts.referrals[name], w.referrers[name])
    if action == "read_entry_body":
        meta = w.entry_meta[name]
        return policy.can_read_entry_body(actor, facts.cases[meta["case"]], grants,
                                          visibility=meta["visibility"], author_agency_id=meta["agency_id"])
    case_action = {"read_case": policy.READ, "write_case": policy.WRITE, "read_restricted": policy.READ_RESTRICTED,
                   "instruct": policy.INSTRUCT, "export": policy.EXPORT}[action]
    return policy.can_case(actor, facts.cases[name], grants, case_action)


def policy_decisions(conn, w: World, facts: Facts, user: str) -> set[tuple[str, str]]:
    """Every (action, object) the policy allows ``user``, with their live grants read now."""
    actor = w.actors[user]
    grants = access.live_grants(conn, actor)
    return {(action, name) for action, kind in ACTIONS.items() for name in w.ids(kind)
            if policy_allows(facts, w, actor, grants, action, name)}


# Tries an oversight instruction on each case as the current role: the chronology_insert policy
# answers with an error for a refused row, so each attempt runs in its own subtransaction.
PROBE_FUNCTION = """
CREATE OR REPLACE FUNCTION authz_probe_instruct(p_cases bigint[], p_children bigint[])
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  ok bigint[] := '{}';
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_cases, 1), 0) LOOP
    BEGIN
      INSERT INTO chronology_entries (case_id, child_id, kind, visibility, author_user_id, agency_id,
                                      occurred_at)
      VALUES (p_cases[i], p_children[i], 'instruction', 'all_participants', qorgau_uid(), qorgau_aid(), now());
      ok := ok || p_cases[i];
    EXCEPTION WHEN insufficient_privilege THEN
      NULL;
    END;
  END LOOP;
  RETURN ok;
END
$$;
"""

# One statement observes every other right of the acting user. Its UPDATEs change nothing and, like
# the instructions the probe above may insert, are rolled back with the savepoint of ``as_app_role``.
# An export reads what a case read does; restricted content is the body of a restricted entry.
PROBE = """
WITH written AS (UPDATE cases SET version = version RETURNING id),
     screened AS (UPDATE referral_recipients SET status = status RETURNING referral_id)
SELECT ARRAY(SELECT id FROM children) AS read_child,
       ARRAY(SELECT id FROM referrals) AS read_referral,
       ARRAY(SELECT referral_id FROM referrer_updates) AS read_referral_status,
       ARRAY(SELECT referral_id FROM referral_referrers) AS read_referrer,
       ARRAY(SELECT referral_id FROM screened) AS screen_referral,
       ARRAY(SELECT id FROM cases) AS read_case,
       ARRAY(SELECT id FROM written) AS write_case,
       ARRAY(SELECT entry_id FROM chronology_bodies) AS read_entry_body
"""


def install_probe(conn) -> None:
    """Create the instruction probe in a test database (as the superuser)."""
    conn.execute(PROBE_FUNCTION)


@contextmanager
def as_app_role(conn):
    """Act as qorgau_app inside a savepoint that is rolled back, with the probes' writes."""
    with conn.transaction(force_rollback=True):
        # The probe's estimated cost passes jit_above_cost, and compiling it takes longer than
        # running it: JIT changes no answer, only the time the property test takes.
        conn.execute("SET LOCAL ROLE qorgau_app; SET LOCAL jit = off")
        yield conn


# Server-side prepared statements, for connections that opted out of psycopg's own (which it
# drops at every ROLLBACK, savepoints included): planning the probe costs more than running it.
_PREPARED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _run(conn, name: str, sql: str, params: tuple = (), types: tuple[str, ...] = ()):
    """Execute ``sql`` ($1, $2 … of ``types``); prepared once per connection when psycopg's is off."""
    casts = [f"%s::{t}" for t in types]
    if conn.prepare_threshold is not None:
        for i, cast in enumerate(casts, 1):
            sql = sql.replace(f"${i}", cast)
        return conn.execute(sql, params)
    done = _PREPARED.setdefault(conn, set())
    if name not in done:
        conn.execute(f"PREPARE {name}{'(' + ', '.join(types) + ')' if types else ''} AS {sql}")
        done.add(name)
    # EXECUTE is a utility statement: its arguments are bound on the client.
    args = [sql_.SQL("{}::{}").format(sql_.Literal(p), sql_.SQL(t)) for p, t in zip(params, types)]
    call = sql_.SQL("EXECUTE {}").format(sql_.Identifier(name))
    if args:
        call = sql_.SQL("{}({})").format(call, sql_.SQL(", ").join(args))
    return conn.execute(call)


def database_decisions(conn, w: World, user: str) -> set[tuple[str, str]]:
    """Every (action, object) row-level security lets ``user`` through; call inside ``as_app_role``."""
    set_actor(conn, w.actors[user])
    cases = list(w.cases)
    # Its own statement, first: inside the one below, its inserts would wait on the rows the
    # UPDATE of cases locked in the same statement.
    instructed = _run(conn, "authz_instruct", "SELECT authz_probe_instruct($1, $2) AS ids",
                      ([w.cases[c] for c in cases], [w.case_children[c] for c in cases]),
                      ("bigint[]", "bigint[]")).fetchone()
    row = {**_run(conn, "authz_probe", PROBE).fetchone(), "instruct": instructed["ids"]}
    row["export"] = row["read_case"]
    bodies = set(row["read_entry_body"])
    row["read_restricted"] = [w.cases[m["case"]] for e, m in w.entry_meta.items()
                              if m["visibility"] == "restricted" and w.entries[e] in bodies]
    allowed = set()
    for action, kind in ACTIONS.items():
        seen = set(row[action])
        allowed.update((action, name) for name, oid in w.ids(kind).items() if oid in seen)
    return allowed


def disagreements(policy_allowed: set, database_allowed: set) -> dict[str, list]:
    """Where the two answers part: exact for every action but ``IMPLIED``, where policy ⊆ database."""
    only_policy = sorted(policy_allowed - database_allowed)
    only_database = sorted(p for p in database_allowed - policy_allowed if p[0] not in IMPLIED)
    return {k: v for k, v in (("policy allows, database refuses", only_policy),
                              ("database allows, policy refuses", only_database)) if v}
