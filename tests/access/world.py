"""Build an authorization world (authz/model.yaml, or one Hypothesis generated) in PostgreSQL.

A world is a plain dict: regions, agencies, users, children, referrals, cases, chronology entries
and emergency grants, each keyed by a name. ``load`` inserts it as the superuser with plain SQL
(the tables are those of migrations/versions/0004_core.py) and returns a ``World`` that maps every
name to its id. Nothing here decides access: that is what the tests compare.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from audit import Actor

MODEL = Path(__file__).resolve().parents[2] / "authz" / "model.yaml"

# What a loaded object is, by the prefix an assertion names it with ("case:c1").
KINDS = ("child", "referral", "case", "entry")


def read_model(path: Path = MODEL) -> dict:
    """The authorization file as a dict."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


@dataclass
class World:
    """Names of a loaded world mapped to database ids, plus what the checks need to know."""

    regions: dict[str, int] = field(default_factory=dict)
    agencies: dict[str, int] = field(default_factory=dict)
    agency_kinds: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)
    children: dict[str, int] = field(default_factory=dict)
    referrals: dict[str, int] = field(default_factory=dict)
    referrers: dict[str, int] = field(default_factory=dict)  # referral name -> referrer's user id
    cases: dict[str, int] = field(default_factory=dict)
    case_children: dict[str, int] = field(default_factory=dict)  # case name -> child id
    entries: dict[str, int] = field(default_factory=dict)
    entry_meta: dict[str, dict] = field(default_factory=dict)  # visibility, agency_id, case
    grants: dict[str, int] = field(default_factory=dict)

    def ids(self, kind: str) -> dict[str, int]:
        """Names to ids of one kind of object ("child", "referral", "case", "entry")."""
        return {"child": self.children, "referral": self.referrals, "case": self.cases,
                "entry": self.entries}[kind]

    def object_id(self, ref: str) -> tuple[str, int]:
        """("case", 17) for "case:c1"."""
        kind, _, name = ref.partition(":")
        if kind not in KINDS:
            raise KeyError(f"{ref!r}: objects are named child:, referral:, case: or entry:")
        return kind, self.ids(kind)[name]

    def restricted_entries(self, case: str) -> list[str]:
        return [n for n, m in self.entry_meta.items() if m["case"] == case and m["visibility"] == "restricted"]


def _code(name: str, suffix: str) -> str:
    return f"{name}{suffix}".lower().replace("_", "-")


def _allocate(conn, spec: dict) -> dict[str, list[int]]:
    """Ids drawn from each table's own sequence, so that every row can be sent at once."""
    counts = {"regions": len(spec.get("regions", [])), "agencies": len(spec.get("agencies", {})),
              "users": len(spec.get("users", {})), "children": len(spec.get("children", {})),
              "referrals": len(spec.get("referrals", {})), "cases": len(spec.get("cases", {})),
              "chronology_entries": len(spec.get("entries", {}))}
    rows = conn.execute(
        "SELECT t.name, ARRAY(SELECT nextval(pg_get_serial_sequence(t.name, 'id'))"
        " FROM generate_series(1, t.n)) AS ids FROM unnest(%s::text[], %s::int[]) AS t(name, n)",
        (list(counts), list(counts.values()))).fetchall()
    return {r["name"]: list(r["ids"]) for r in rows}


def load(conn, spec: dict, *, suffix: str = "") -> World:
    """Insert ``spec`` through ``conn`` (a superuser connection with dict rows); return its ids.

    ``suffix`` keeps region, agency and user names unique when several worlds share a database.
    Every referral gets its referrer row and one status row, so that the referrer-identity and
    status rights can be observed in the database for every referral. Ids are drawn first and
    the rows sent in one pipeline: the property test builds thousands of worlds.
    """
    w = World()
    ids = _allocate(conn, spec)
    rows: dict[str, list[tuple]] = {table: [] for table in SQL}
    for name, rid in zip(spec.get("regions", []), ids["regions"]):
        w.regions[name] = rid
        rows["regions"].append((rid, _code(name, suffix), name))
    region_of_agency = {}
    for (name, a), aid in zip(spec.get("agencies", {}).items(), ids["agencies"]):
        region_of_agency[name] = w.regions[a["region"]]
        w.agency_kinds[name] = a["kind"]
        w.agencies[name] = aid
        rows["agencies"].append((aid, _code(name, suffix), name, a["kind"], region_of_agency[name]))
    user_agency = {}
    for (name, u), uid in zip(spec.get("users", {}).items(), ids["users"]):
        user_agency[name] = u["agency"]
        w.users[name] = uid
        rows["users"].append((uid, w.agencies[u["agency"]], _code(name, suffix).replace("-", "."), name))
        rows["user_roles"] += [(uid, role) for role in u["roles"]]
        w.actors[name] = Actor(user_id=uid, agency_id=w.agencies[u["agency"]], roles=frozenset(u["roles"]),
                               username=name, region_id=region_of_agency[u["agency"]], kind="user", mfa=True)
    for (name, c), cid in zip(spec.get("children", {}).items(), ids["children"]):
        w.children[name] = cid
        rows["children"].append((cid, name.title(), c.get("born", date(2014, 1, 1)), w.regions[c["region"]],
                                 name, w.agencies[c["recorded_by"]]))
    for (name, r), rid in zip(spec.get("referrals", {}).items(), ids["referrals"]):
        agency = user_agency[r["by"]]
        w.referrals[name] = rid
        rows["referrals"].append((rid, r["state"], f"observation {name}", w.agencies[agency],
                                  region_of_agency[agency], w.users[r["by"]], r["state"]))
        referrer = r.get("referrer", r["by"])
        w.referrers[name] = w.users[referrer]
        rows["referral_referrers"].append((rid, w.users[referrer], referrer))
        rows["referral_children"] += [(rid, w.children[child]) for child in r.get("children", [])]
        rows["referral_recipients"] += [(rid, w.agencies[a], status)
                                        for a, status in r.get("recipients", {}).items()]
        rows["referrer_updates"].append((rid, w.agencies[agency], r.get("status", "received")))
    for (name, c), cid in zip(spec.get("cases", {}).items(), ids["cases"]):
        child = c["child"]
        region = w.regions[c.get("region") or spec["children"][child]["region"]]
        w.cases[name] = cid
        w.case_children[name] = w.children[child]
        state = c.get("state", "open")
        rows["cases"].append((cid, w.children[child], region, w.agencies[c["lead"]], state, state))
        for agency_name, p in (c.get("participants") or {}).items():
            p = p or {}
            rows["case_participants"].append((cid, w.agencies[agency_name], w.users.get(p.get("assigned")),
                                              bool(p.get("left"))))
        rows["case_referrals"] += [(cid, w.referrals[r]) for r in c.get("referrals", [])]
    for (name, e), eid in zip(spec.get("entries", {}).items(), ids["chronology_entries"]):
        agency_id = w.agencies[user_agency[e["author"]]]
        w.entries[name] = eid
        w.entry_meta[name] = {"visibility": e["visibility"], "agency_id": agency_id, "case": e["case"]}
        rows["chronology_entries"].append((eid, w.cases[e["case"]], w.case_children[e["case"]],
                                           e.get("kind", "note"), e["visibility"], w.users[e["author"]], agency_id))
        rows["chronology_bodies"].append((eid, f"body of {name}"))
    with conn.pipeline(), conn.cursor() as cur:
        for table, sql in SQL.items():
            if rows[table]:
                cur.executemany(sql, rows[table])
    for name, g in spec.get("grants", {}).items():
        w.grants[name] = add_grant(conn, w, g["user"], g["child"], hours=g.get("expires_in_hours", 4),
                                   revoked=bool(g.get("revoked")))
    return w


# In dependency order; each row supplies its own id (drawn by _allocate).
SQL = {
    "regions": "INSERT INTO regions (id, code, name) OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s)",
    "agencies": "INSERT INTO agencies (id, code, name, kind, region_id) OVERRIDING SYSTEM VALUE"
                " VALUES (%s, %s, %s, %s, %s)",
    "users": "INSERT INTO users (id, agency_id, username, full_name, password_hash) OVERRIDING SYSTEM VALUE"
             " VALUES (%s, %s, %s, %s, 'none')",
    "user_roles": "INSERT INTO user_roles (user_id, role) VALUES (%s, %s)",
    "children": "INSERT INTO children (id, last_name, first_name, date_of_birth, region_id, search_key,"
                " created_by_agency_id) OVERRIDING SYSTEM VALUE VALUES (%s, %s, 'Child', %s, %s, %s, %s)",
    "referrals": "INSERT INTO referrals (id, state, priority, categories, observed_at, observation,"
                 " referring_agency_id, region_id, created_by, submitted_at) OVERRIDING SYSTEM VALUE"
                 " VALUES (%s, %s, 'standard', '{neglect}', now() - interval '1 day', %s, %s, %s, %s,"
                 " CASE WHEN %s <> 'draft' THEN now() END)",
    "referral_referrers": "INSERT INTO referral_referrers (referral_id, user_id, full_name) VALUES (%s, %s, %s)",
    "referral_children": "INSERT INTO referral_children (referral_id, child_id) VALUES (%s, %s)",
    "referral_recipients": "INSERT INTO referral_recipients (referral_id, agency_id, status) VALUES (%s, %s, %s)",
    "referrer_updates": "INSERT INTO referrer_updates (referral_id, referring_agency_id, status) VALUES (%s, %s, %s)",
    "cases": "INSERT INTO cases (id, child_id, region_id, lead_agency_id, state, priority, closed_at)"
             " OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s, 'standard',"
             " CASE WHEN %s = 'closed' THEN now() END)",
    "case_participants": "INSERT INTO case_participants (case_id, agency_id, assigned_user_id, left_at)"
                         " VALUES (%s, %s, %s, CASE WHEN %s THEN now() END)",
    "case_referrals": "INSERT INTO case_referrals (case_id, referral_id) VALUES (%s, %s)",
    "chronology_entries": "INSERT INTO chronology_entries (id, case_id, child_id, kind, visibility, author_user_id,"
                          " agency_id, occurred_at) OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s, %s, %s, now())",
    "chronology_bodies": "INSERT INTO chronology_bodies (entry_id, body) VALUES (%s, %s)",
}


def add_grant(conn, w: World, user: str, child: str, *, hours: float = 4, revoked: bool = False) -> int:
    """An emergency grant of ``user`` on ``child`` ending ``hours`` from now (negative: already over)."""
    actor = w.actors[user]
    return conn.execute(
        "INSERT INTO access_grants (user_id, agency_id, region_id, child_id, reason, granted_at, expires_at,"
        " revoked_at) VALUES (%s, %s, %s, %s, 'a child was brought in at night by the police',"
        " now() - interval '5 hours', now() + make_interval(secs => %s), CASE WHEN %s THEN now() END)"
        " RETURNING id",
        (actor.user_id, actor.agency_id, actor.region_id, w.children[child], hours * 3600, revoked),
    ).fetchone()["id"]
