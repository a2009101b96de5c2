"""Every assertion of authz/model.yaml, asked three ways: policy module, row-level security, HTTP.

The same world is loaded once; each group of the file is one test per way, so a failure names the
group and lists every assertion of it that went wrong.
"""
from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.access import http
from tests.access.checks import (ACTIONS, IMPLIED, Facts, as_app_role, database_decisions,
                                 disagreements, policy_decisions)
from tests.access.conftest import app_on, copy_database, issue_tokens
from tests.access.world import read_model
from tests.conftest import _drop, db_url

GROUPS = [g["name"] for g in read_model()["tests"]]


def assertions(model, group: str):
    """(user, action, object kind, object name, expected) for every assertion of ``group``."""
    for g in model["tests"]:
        if g["name"] != group:
            continue
        for item in g["check"]:
            kind, _, name = item["object"].partition(":")
            for action, expected in item["assertions"].items():
                yield item["user"], action, kind, name, expected


def every_assertion(model):
    for group in GROUPS:
        yield from assertions(model, group)


def test_every_assertion_names_a_user_an_object_and_an_action_of_the_world(model):
    world = model["world"]
    tables = {"child": "children", "referral": "referrals", "case": "cases", "entry": "entries"}
    problems = []
    for user, action, kind, name, expected in every_assertion(model):
        if user not in world["users"]:
            problems.append(f"unknown user {user}")
        if ACTIONS.get(action) != kind:
            problems.append(f"{action} is not an action on a {kind}")
        if name not in world.get(tables.get(kind, ""), {}):
            problems.append(f"unknown {kind} {name}")
        if not isinstance(expected, bool):
            problems.append(f"{user} {action} {kind}:{name}: expected true or false, not {expected!r}")
    assert not problems


def test_every_action_is_asserted_both_allowed_and_refused(model):
    seen = {(action, expected) for _, action, _, _, expected in every_assertion(model)}
    missing = [(a, e) for a in ACTIONS for e in (True, False) if (a, e) not in seen]
    assert not missing


def test_groups_have_unique_names(model):
    assert len(GROUPS) == len(set(GROUPS))


@pytest.mark.parametrize("group", GROUPS)
def test_policy_module_answers_as_the_file_says(model, model_db, model_conn, group):
    _, world = model_db
    facts = Facts.load(model_conn, world)
    decided = {}
    wrong = []
    for user, action, kind, name, expected in assertions(model, group):
        if user not in decided:
            decided[user] = policy_decisions(model_conn, world, facts, user)
        allowed = (action, name) in decided[user]
        if allowed != expected:
            wrong.append(f"{user} {action} {kind}:{name}: policy says {allowed}, the file {expected}")
    assert not wrong


@pytest.mark.parametrize("group", GROUPS)
def test_row_level_security_answers_as_the_file_says(model, model_db, model_conn, group):
    _, world = model_db
    decided = {}
    wrong = []
    with as_app_role(model_conn):
        for user, action, kind, name, expected in assertions(model, group):
            if user not in decided:
                decided[user] = database_decisions(model_conn, world, user)
            allowed = (action, name) in decided[user]
            if action in IMPLIED and not expected:
                continue  # the database is the coarser backstop here (checks.IMPLIED)
            if allowed != expected:
                wrong.append(f"{user} {action} {kind}:{name}: the database says {allowed}, the file {expected}")
    assert not wrong


def test_policy_and_database_agree_on_every_user_object_and_action_of_the_world(model_db, model_conn):
    """Beyond the file's assertions: the whole cross product of the world."""
    _, world = model_db
    facts = Facts.load(model_conn, world)
    by_policy = {u: policy_decisions(model_conn, world, facts, u) for u in world.users}
    with as_app_role(model_conn):
        by_database = {u: database_decisions(model_conn, world, u) for u in world.users}
    parts = {u: d for u in world.users if (d := disagreements(by_policy[u], by_database[u]))}
    assert not parts


def test_the_app_role_really_is_subject_to_row_level_security_in_these_checks(model_conn):
    """SET LOCAL ROLE inside the superuser's transaction must leave FORCE'd policies in charge."""
    assert model_conn.execute("SELECT count(*) AS n FROM cases").fetchone()["n"] > 0
    with as_app_role(model_conn):
        row = model_conn.execute("SELECT current_user AS who, count(*) AS n FROM cases").fetchone()
        assert row == {"who": "qorgau_app", "n": 0}  # no acting user: nothing
    assert model_conn.execute("SELECT current_user AS who").fetchone()["who"] != "qorgau_app"
    # The tables' owner is held to the policies too (FORCE): they call the policy functions, which
    # only the application role may execute, instead of letting the owner read every row.
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="qorgau_can_read_case"):
        with model_conn.transaction():
            model_conn.execute("SET LOCAL ROLE qorgau_owner")
            model_conn.execute("SELECT count(*) FROM cases")


# --- (c) HTTP ------------------------------------------------------------------------------------

MAPPED = sorted(set(http.ROUTES) - http.PENDING_HTTP)


def test_every_action_has_an_http_mapping_line():
    assert set(http.ROUTES) == set(ACTIONS)
    assert http.PENDING_HTTP <= set(ACTIONS)


def test_no_pending_action_has_its_route_yet(app):
    """Fails as soon as a pending action's endpoint exists: then remove it from PENDING_HTTP."""
    landed = [a for a in sorted(http.PENDING_HTTP) if http.route_exists(app, http.ROUTES[a])]
    assert landed == [], f"remove {landed} from PENDING_HTTP in tests/access/http.py"


@pytest.mark.parametrize("action", MAPPED)
def test_a_mapped_action_has_its_route(app, action):
    assert http.route_exists(app, http.ROUTES[action])


READ_ACTION = {"child": "read_child", "referral": "read_referral", "case": "read_case", "entry": "read_case"}


class _Site:
    """The app on one copy of the world, with a token for every user."""

    def __init__(self, template: str, world):
        self.name = copy_database(template)
        url = db_url(self.name)
        self.headers = {u: http.bearer(t) for u, t in issue_tokens(url, world, list(world.users)).items()}
        self.app = app_on(url)
        self.client = self.app.test_client()

    def close(self):
        self.app.extensions["qorgau_db"].close()
        _drop(self.name)


@pytest.fixture(scope="module")
def sites(model_template):
    """``sites("reads")`` and ``sites("scratch")`` are shared copies; ``sites(None)`` a copy of its own."""
    name, world = model_template
    shared, own = {}, []

    def site(kind):
        if kind is None:
            own.append(_Site(name, world))
            return own[-1]
        if kind not in shared:
            shared[kind] = _Site(name, world)
        return shared[kind]

    yield site
    for s in [*shared.values(), *own]:
        s.close()


@pytest.mark.parametrize("group", GROUPS)
def test_http_api_answers_as_the_file_says(model, model_db, model_conn, group, request):
    checks = [a for a in assertions(model, group) if a[1] in MAPPED]
    if not checks:
        return  # every action of this group is still in PENDING_HTTP
    _, world = model_db
    site = request.getfixturevalue("sites")
    facts = Facts.load(model_conn, world)
    wrong = []
    for user, action, kind, name, expected in checks:
        probe = http.ROUTES[action]
        # A refused change changes nothing, and some changes change no one's rights: those share a
        # scratch copy; a change that may move rights (a screening decision) gets a copy of its own.
        where = "reads" if not probe.mutates else None if probe.changes_rights and expected else "scratch"
        s = site(where)
        target = http.target_of(world, kind, name)
        try:
            allowed, status = http.ask(s.client, s.headers[user], probe, target)
        except http.UnexpectedAnswer as exc:
            wrong.append(f"{user} {action} {kind}:{name}: {exc}")
            continue
        if allowed is None:
            continue  # not observable through this endpoint (see the judge)
        if allowed != expected:
            wrong.append(f"{user} {action} {kind}:{name}: the API says {allowed} ({status}), the file {expected}")
        if status in (403, 409):
            readable_name = world.entry_meta[name]["case"] if kind == "entry" else name
            if (READ_ACTION[kind], readable_name) not in policy_decisions(model_conn, world, facts, user):
                wrong.append(f"{user} {action} {kind}:{name}: {status} tells someone who may not read it "
                             "that it exists (the answer must be 404)")
    assert not wrong


def test_world_copies_start_identical(model_template, model_db):
    """The ids a test holds are valid in every copy, because copies are byte-for-byte the template."""
    url, world = model_db
    with psycopg.connect(url, row_factory=dict_row) as conn:
        ids = {r["id"] for r in conn.execute("SELECT id FROM cases")}
    assert set(world.cases.values()) <= ids
