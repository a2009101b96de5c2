"""Generated worlds and changes to them: the policy module and row-level security always agree.

Each example is a small world (agencies of several kinds in two regions, users with one or more
roles, children, referrals in every state, cases with participants, chronology entries of every
visibility, emergency grants) followed by a sequence of changes: assign, unassign, join, leave,
grant, expire, revoke. After the world is built and after every change, every user's rights on
every object are asked of ``services.policy`` and of PostgreSQL as the application role, and the
two answers must be the same (checks.IMPLIED lists the two actions where the database is only the
coarser backstop).

``make test`` runs 2,000 worlds; the long run (``make test-long``, i.e. QORGAU_LONG=1) runs 10,000.
Each world lives in one transaction on one database and is rolled back, so a run stays within
about two minutes. A second, smaller property commits every change and asks through new
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
COMMITTED_WORLDS = 200 if LONG else 20

REGIONS = ["region0", "region1"]
KINDS = ["school", "social_services", "police", "health", "psychology", "ngo", "prosecutor"]
ROLES = ["caseworker", "supervisor", "oversight", "council", "agency_admin", "system_admin"]
REFERRAL_STATES = ["draft", "submitted", "screening", "accepted", "screened_out", "redirected"]
RECIPIENT_STATUSES = ["pending", "accepted", "screened_out", "redirected", "screen_out_requested"]
VISIBILITIES = ["all_participants", "own_agency", "restricted"]

# Mostly the single roles people hold, sometimes a combination (a supervisor who also takes cases).
ONE_ROLE = st.sampled_from([["caseworker"], ["caseworker"], ["supervisor"], ["oversight"], ["council"],
                            ["agency_admin"], ["system_admin"]])
ROLE_SETS = st.one_of(ONE_ROLE, ONE_ROLE, ONE_ROLE, st.lists(st.sampled_from(ROLES), min_size=2, max_size=3,
                                                            unique=True))


@st.composite
def worlds(draw) -> dict:
    """A small world in the shape of authz/model.yaml's."""
    pick = lambda xs: draw(st.sampled_from(xs))  # noqa: E731
    agencies = {f"agency{i}": {"kind": pick(KINDS), "region": pick(REGIONS)}
                for i in range(draw(st.integers(2, 5)))}
    users = {f"user{i}": {"agency": pick(list(agencies)), "roles": draw(ROLE_SETS)}
             for i in range(draw(st.integers(1, 6)))}
    staff = {a: [u for u, spec in users.items() if spec["agency"] == a] for a in agencies}
    children = {f"child{i}": {"region": pick(REGIONS), "recorded_by": pick(list(agencies))}
                for i in range(draw(st.integers(1, 3)))}
    referrals = {}
    for i in range(draw(st.integers(0, 3))):
        referrals[f"referral{i}"] = {
            "by": pick(list(users)), "state": pick(REFERRAL_STATES),
            "children": draw(st.lists(st.sampled_from(list(children)), min_size=1, max_size=2, unique=True)),
            "recipients": draw(st.dictionaries(st.sampled_from(list(agencies)), st.sampled_from(RECIPIENT_STATUSES),
                                               max_size=3)),
        }
    cases, open_children = {}, set()
    for i in range(draw(st.integers(0, 3))):
        child, lead = pick(list(children)), pick(list(agencies))
        state = "closed" if child in open_children or draw(st.booleans()) and draw(st.booleans()) else "open"
        if state == "open":
            open_children.add(child)
        taking_part = {lead} | set(draw(st.lists(st.sampled_from(list(agencies)), max_size=3)))
        cases[f"case{i}"] = {
            "child": child, "lead": lead, "state": state,
            "region": pick(REGIONS) if draw(st.integers(0, 4)) == 0 else None,  # usually the child's
            "referrals": draw(st.lists(st.sampled_from(list(referrals)), max_size=2, unique=True)) if referrals else [],
            "participants": {a: {"assigned": draw(st.sampled_from([None, *staff[a]])),
                                 "left": draw(st.integers(0, 3)) == 0} for a in taking_part},
        }
    entries = {f"{case}_{v}": {"case": case, "visibility": v, "author": pick(list(users))}
               for case in cases for v in VISIBILITIES}
    grants = {f"grant{i}": {"user": pick(list(users)), "child": pick(list(children)),
                            "expires_in_hours": pick([4, -1]), "revoked": draw(st.integers(0, 4)) == 0}
              for i in range(draw(st.integers(0, 2)))}
    return {"regions": REGIONS, "agencies": agencies, "users": users, "children": children,
            "referrals": referrals, "cases": cases, "entries": entries, "grants": grants}


@st.composite
def scenarios(draw) -> tuple[dict, list[tuple]]:
    """A world and the changes made to it, in order."""
    spec = draw(worlds())
    cases, agencies, users = list(spec["cases"]), list(spec["agencies"]), list(spec["users"])
    children = list(spec["children"])
    moves = [st.tuples(st.just("grant"), st.sampled_from(users), st.sampled_from(children)),
             st.tuples(st.just("expire"), st.integers(0, 5)),
             st.tuples(st.just("revoke"), st.integers(0, 5))]
    if cases:
        moves += [st.tuples(st.just("assign"), st.sampled_from(cases), st.sampled_from(agencies),
                            st.sampled_from(users)),
                  st.tuples(st.just("unassign"), st.sampled_from(cases), st.sampled_from(agencies)),
                  st.tuples(st.just("join"), st.sampled_from(cases), st.sampled_from(agencies)),
                  st.tuples(st.just("leave"), st.sampled_from(cases), st.sampled_from(agencies))]
    return spec, draw(st.lists(st.one_of(moves), max_size=4))


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
@settings(max_examples=WORLDS, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(scenario=scenarios())
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


@settings(max_examples=COMMITTED_WORLDS, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(scenario=scenarios())
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
