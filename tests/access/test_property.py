"""Generated worlds and changes to them: the policy module and row-level security always agree.

Each example is a small world (agencies of several kinds in two regions, users with one or more
roles, children, referrals in every state, cases with participants, chronology entries of every
visibility, emergency grants) followed by a sequence of changes: assign, unassign, join, leave,
grant, expire, revoke. After the world is built and after every change, every user's rights on
every object are asked of ``services.policy`` and of PostgreSQL as the application role, and the
two answers must be the same (checks.IMPLIED lists the two actions where the database is only the
coarser backstop).

``make test`` runs 2,000 worlds; the long run (``make test-long``, i.e. QORGAU_LONG=1) runs 10,000
(AUTHZ_WORLDS=N sets any other number). Each world lives in one transaction on one database and is
rolled back, and the probes are prepared once per connection, so a run stays within about two
minutes on an idle machine. A second, smaller property commits every change and asks through new
transactions of the application's own pool (and the HTTP API, for the actions mapped in
tests/access/http.py): what was revoked is refused on the very next request.
"""
from __future__ import annotations

import os
from contextlib import nullcontext

import psycopg
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from services import access
from services.db import Database
from tests.access import http
from tests.access.checks import (Facts, as_app_role, database_decisions, disagreements, install_probe,
                                 policy_decisions)
from tests.access.conftest import app_on, copy_database, issue_tokens
from tests.access.world import add_grant, load
from tests.conftest import _drop, db_url, make_settings

LONG = os.environ.get("QORGAU_LONG") == "1"
WORLDS = int(os.environ.get("AUTHZ_WORLDS", 10_000 if LONG else 2_000))
COMMITTED_WORLDS = 100 if LONG else 10

REGIONS = ["region0", "region1"]
KINDS = ["school", "social_services", "police", "health", "psychology", "ngo", "prosecutor"]
ROLES = ["caseworker", "supervisor", "oversight", "council", "agency_admin", "system_admin"]
REFERRAL_STATES = ["draft", "submitted", "screening", "accepted", "screened_out", "redirected"]
RECIPIENT_STATUSES = ["pending", "accepted", "screened_out", "redirected", "screen_out_requested"]
VISIBILITIES = ["all_participants", "own_agency", "restricted"]

# Mostly the single roles people hold, sometimes a combination (a supervisor who also takes cases).
ONE_ROLE = st.sampled_from([("caseworker",), ("caseworker",), ("supervisor",), ("oversight",), ("council",),
                            ("agency_admin",), ("system_admin",)])
ROLE_SETS = st.one_of(ONE_ROLE, ONE_ROLE, ONE_ROLE,
                      st.lists(st.sampled_from(ROLES), min_size=2, max_size=3, unique=True).map(tuple))

# A world is drawn as small integers, read modulo the number of things they pick from (see
# ``build``): the strategies are made once, which keeps generation cheap next to the database work.
N = st.integers(0, 9)
RAW_WORLD = st.tuples(
    st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from(REGIONS)), min_size=2, max_size=5),
    st.lists(st.tuples(N, ROLE_SETS), min_size=1, max_size=5),
    st.lists(st.tuples(st.sampled_from(REGIONS), N), min_size=1, max_size=3),
    st.lists(st.tuples(N, st.sampled_from(REFERRAL_STATES), st.lists(N, min_size=1, max_size=2),
                       st.lists(st.tuples(N, st.sampled_from(RECIPIENT_STATUSES)), max_size=3)), max_size=3),
    st.lists(st.tuples(N, N, st.booleans(), st.integers(0, 4), st.lists(N, max_size=2),
                       st.lists(st.tuples(N, N, st.integers(0, 3)), max_size=3)), max_size=3),
    st.lists(st.tuples(N, N, st.sampled_from([4, -1]), st.integers(0, 4)), max_size=2),
    st.lists(st.tuples(st.sampled_from(["assign", "unassign", "join", "leave", "grant", "expire", "revoke"]),
                       N, N, N), max_size=4),
)


def build(raw) -> tuple[dict, list[tuple]]:
    """The world (in the shape of authz/model.yaml's) and the changes made to it, from ``raw``."""
    raw_agencies, raw_users, raw_children, raw_referrals, raw_cases, raw_grants, raw_steps = raw
    agencies = {f"agency{i}": {"kind": k, "region": r} for i, (k, r) in enumerate(raw_agencies)}
    a_names = list(agencies)
    users = {f"user{i}": {"agency": a_names[a % len(a_names)], "roles": list(roles)}
             for i, (a, roles) in enumerate(raw_users)}
    u_names = list(users)
    staff = {a: [u for u, spec in users.items() if spec["agency"] == a] for a in agencies}
    children = {f"child{i}": {"region": r, "recorded_by": a_names[a % len(a_names)]}
                for i, (r, a) in enumerate(raw_children)}
    c_names = list(children)
    referrals = {f"referral{i}": {
        "by": u_names[u % len(u_names)], "state": state,
        "children": sorted({c_names[c % len(c_names)] for c in named}),
        "recipients": {a_names[a % len(a_names)]: status for a, status in recipients},
    } for i, (u, state, named, recipients) in enumerate(raw_referrals)}
    r_names = list(referrals)
    cases, open_children = {}, set()
    for i, (c, lead, closed, other_region, linked, taking_part) in enumerate(raw_cases):
        child, lead = c_names[c % len(c_names)], a_names[lead % len(a_names)]
        state = "closed" if closed or child in open_children else "open"  # one open case per child
        if state == "open":
            open_children.add(child)
        participants = {lead: {"assigned": None, "left": False}}
        for a, who, left in taking_part:
            agency = a_names[a % len(a_names)]
            crew = [None, *staff[agency]]
            participants[agency] = {"assigned": crew[who % len(crew)], "left": left == 0}
        cases[f"case{i}"] = {
            "child": child, "lead": lead, "state": state,
            "region": REGIONS[other_region % 2] if other_region < 2 else None,  # mostly the child's
            "referrals": sorted({r_names[r % len(r_names)] for r in linked}) if r_names else [],
            "participants": participants,
        }
    entries = {f"{case}_{v}": {"case": case, "visibility": v, "author": u_names[(i + j) % len(u_names)]}
               for i, case in enumerate(cases) for j, v in enumerate(VISIBILITIES)}
    grants = {f"grant{i}": {"user": u_names[u % len(u_names)], "child": c_names[c % len(c_names)],
                            "expires_in_hours": hours, "revoked": revoked == 0}
              for i, (u, c, hours, revoked) in enumerate(raw_grants)}
    spec = {"regions": REGIONS, "agencies": agencies, "users": users, "children": children,
            "referrals": referrals, "cases": cases, "entries": entries, "grants": grants}
    steps = []
    for what, x, y, z in raw_steps:
        if what in ("expire", "revoke"):
            steps.append((what, x))
        elif what == "grant":
            steps.append((what, u_names[x % len(u_names)], c_names[y % len(c_names)]))
        elif cases:
            step = (what, list(cases)[x % len(cases)], a_names[y % len(a_names)])
            steps.append(step + (u_names[z % len(u_names)],) if what == "assign" else step)
    return spec, steps


scenarios = RAW_WORLD.map(build)


def apply(conn, w, step: tuple) -> None:
    """Make one change to the loaded world, as the superuser."""
    what, *args = step
    x = conn.execute
    if what in ("assign", "unassign", "join", "leave"):
        case, agency = w.cases[args[0]], w.agencies[args[1]]
        if what == "assign":
            x("UPDATE case_participants SET assigned_user_id = %s WHERE case_id = %s AND agency_id = %s",
              (w.users[args[2]], case, agency))
        elif what == "unassign":
            x("UPDATE case_participants SET assigned_user_id = NULL WHERE case_id = %s AND agency_id = %s",
              (case, agency))
        elif what == "join":
            x("INSERT INTO case_participants (case_id, agency_id) VALUES (%s, %s)"
              " ON CONFLICT (case_id, agency_id) DO UPDATE SET left_at = NULL", (case, agency))
        else:
            x("UPDATE case_participants SET left_at = now() WHERE case_id = %s AND agency_id = %s", (case, agency))
    elif what == "grant":
        w.grants[f"grant{len(w.grants)}"] = add_grant(conn, w, args[0], args[1])
    elif w.grants:
        grant = list(w.grants.values())[args[0] % len(w.grants)]
        column = "expires_at = now() - interval '1 second'" if what == "expire" else "revoked_at = now()"
        x(f"UPDATE access_grants SET {column} WHERE id = %s", (grant,))


PARTICIPATION = ("assign", "unassign", "join", "leave")


def assert_agreement(conn, w, facts, history) -> None:
    """Policy and row-level security give every user the same rights on every object."""
    by_policy = {u: policy_decisions(conn, w, facts, u) for u in w.users}
    with as_app_role(conn):
        by_database = {u: database_decisions(conn, w, u) for u in w.users}
    parted = {u: d for u in w.users if (d := disagreements(by_policy[u], by_database[u]))}
    assert not parted, f"after {history}: {parted}"


def assert_grant_over(admin, w, step, transaction) -> None:
    """An expired or revoked grant is gone from the next decision (unless another one is live).

    ``admin`` reads the grant as the superuser; ``transaction(actor)`` opens the decision's own.
    """
    if step[0] not in ("expire", "revoke") or not w.grants:
        return
    grant = list(w.grants.values())[step[1] % len(w.grants)]
    row = admin.execute("SELECT user_id, child_id FROM access_grants WHERE id = %s", (grant,)).fetchone()
    other = admin.execute("SELECT 1 FROM access_grants WHERE user_id = %s AND child_id = %s AND id <> %s"
                          " AND revoked_at IS NULL AND expires_at > now()",
                          (row["user_id"], row["child_id"], grant)).fetchone()
    actor = next(a for a in w.actors.values() if a.user_id == row["user_id"])
    with transaction(actor) as conn:
        assert (row["child_id"] in access.live_grants(conn, actor).child_ids) == (other is not None)


@pytest.fixture(scope="module")
def property_conn(template_db):
    """One superuser connection to a database of its own; each example is a rolled-back transaction."""
    name = copy_database(template_db)
    with psycopg.connect(db_url(name), row_factory=dict_row, autocommit=True) as conn:
        install_probe(conn)
    with psycopg.connect(db_url(name), row_factory=dict_row, prepare_threshold=None) as conn:
        yield conn
    _drop(name)


@pytest.mark.timeout(1500)  # 2,000 worlds take minutes on a loaded two-core machine
@pytest.mark.timeout(3000 if LONG else 900)  # about two minutes on an idle machine; room for a loaded one
@settings(max_examples=WORLDS, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(scenario=scenarios)
def test_policy_and_row_level_security_agree_after_every_step(property_conn, scenario):
    spec, steps = scenario
    note(f"world: {spec}\nsteps: {steps}")
    conn = property_conn
    with conn.transaction(force_rollback=True):
        w = load(conn, spec)
        facts = Facts.load(conn, w)
        assert_agreement(conn, w, facts, [])
        for i, step in enumerate(steps):
            apply(conn, w, step)
            assert_grant_over(conn, w, step, lambda actor: nullcontext(conn))
            if step[0] in PARTICIPATION:  # grants are read afresh for every decision anyway
                facts = Facts.load(conn, w)
            assert_agreement(conn, w, facts, steps[: i + 1])


# --- committed changes, fresh transactions, HTTP ---------------------------------------------------

@pytest.fixture(scope="module")
def committed_db(template_db):
    """A database of its own where each generated world and change is committed: (url, pool, app)."""
    name = copy_database(template_db)
    url = db_url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        install_probe(conn)
    pool = Database(make_settings(url).app_database_url, min_size=1, max_size=2)
    pool.open()
    mapped = set(http.ROUTES) - http.PENDING_HTTP
    app = app_on(url) if mapped else None
    yield url, pool, app
    pool.close()
    if app is not None:
        app.extensions["qorgau_db"].close()
    _drop(name)


def decisions_by_request(pool, w) -> dict[str, tuple[set, set]]:
    """Each user's rights as a new request sees them: policy and database in one pooled transaction."""
    out = {}
    for user, actor in w.actors.items():
        with pool.transaction(actor) as conn:
            allowed = policy_decisions(conn, w, Facts.load(conn, w), user)
            with as_app_role(conn):
                out[user] = (allowed, database_decisions(conn, w, user))
    return out


def http_disagreements(app, w, tokens, by_policy) -> list[str]:
    """Actions mapped to an endpoint: does the API give every user the policy's answer?"""
    from tests.access.checks import ACTIONS

    wrong = []
    client = app.test_client()
    for action in sorted(set(http.ROUTES) - http.PENDING_HTTP):
        probe = http.ROUTES[action]
        if probe.mutates:
            continue  # changes the world; test_authz_file.py asks those on copies
        for user in w.users:
            for name in w.ids(ACTIONS[action]):
                said, status = http.ask(client, http.bearer(tokens[user]), probe,
                                        http.target_of(w, ACTIONS[action], name))
                if said is not None and said != ((action, name) in by_policy[user]):
                    wrong.append(f"{user} {action} {name}: API {said} ({status})")
    return wrong


@pytest.mark.timeout(3000 if LONG else 900)
@settings(max_examples=COMMITTED_WORLDS, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(scenario=scenarios)
def test_every_change_applies_to_the_next_request(committed_db, scenario):
    url, pool, app = committed_db
    spec, steps = scenario
    note(f"world: {spec}\nsteps: {steps}")
    suffix = f"-{os.urandom(4).hex()}"
    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as admin:
        with admin.transaction():
            w = load(admin, spec, suffix=suffix)
        tokens = issue_tokens(url, w, list(w.users)) if app is not None else {}
        for i in range(len(steps) + 1):
            if i:
                with admin.transaction():
                    apply(admin, w, steps[i - 1])
                assert_grant_over(admin, w, steps[i - 1], pool.transaction)
            seen = decisions_by_request(pool, w)
            parted = {u: d for u, (p, db) in seen.items() if (d := disagreements(p, db))}
            assert not parted, f"after {steps[:i]}: {parted}"
            if app is not None:
                wrong = http_disagreements(app, w, tokens, {u: p for u, (p, _) in seen.items()})
                assert not wrong, f"after {steps[:i]}: {wrong}"
