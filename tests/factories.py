"""Plain functions that build test data through the real actions (so audit rows exist too)."""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

import pyotp

from audit import Actor
from services.agencies import actions
from services.db import transaction

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)
SYSTEM = Actor.system("tests")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class TestUser:
    id: int
    username: str
    agency_id: int
    roles: list[str]
    password: str = PASSWORD
    totp_secret: str | None = None

    def totp_now(self, *, offset_steps: int = 0) -> str:
        import time

        return pyotp.TOTP(self.totp_secret).at(time.time() + 30 * offset_steps)


@dataclass
class World:
    region_code: str
    region_id: int
    agencies: dict[str, object] = field(default_factory=dict)
    users: dict[str, TestUser] = field(default_factory=dict)


def make_region(conn) -> tuple[str, int]:
    code = unique("r")
    region_id = actions.create_region(conn, actor=SYSTEM, code=code, name=f"Region {code}")
    actions.create_district(conn, actor=SYSTEM, region_id=region_id, code="d1", name="District 1")
    return code, region_id


def make_agency(conn, region_code: str, kind: str = "school", **overrides):
    code = overrides.pop("code", unique(kind.replace("_", "-")))
    return actions.create_agency(conn, actor=SYSTEM, code=code, name=overrides.pop("name", f"Agency {code}"),
                                 kind=kind, region_code=region_code, district_code="d1")


def make_user(conn, agency_id: int, roles: list[str], *, enrolled_totp: bool = True, **overrides) -> TestUser:
    from services.agencies.records import MFA_ROLES

    username = overrides.pop("username", unique("u").replace("-", "."))
    secret = pyotp.random_base32() if (enrolled_totp and MFA_ROLES.intersection(roles)) else None
    user = actions.create_user(conn, actor=SYSTEM, agency_id=agency_id, username=username,
                               full_name=overrides.pop("full_name", "Test Person"),
                               password=overrides.pop("password", PASSWORD), roles=roles,
                               totp_secret=secret, **overrides)
    return TestUser(user.id, user.username, agency_id, roles, totp_secret=secret)


def make_world() -> World:
    """A region with a school, social services, police and prosecutor, and one user per role."""
    with transaction(SYSTEM) as conn:
        code, region_id = make_region(conn)
        world = World(code, region_id)
        for kind in ("school", "social_services", "police", "prosecutor"):
            world.agencies[kind] = make_agency(conn, code, kind)
        school = world.agencies["school"].id
        world.users["caseworker"] = make_user(conn, school, ["caseworker"])
        world.users["supervisor"] = make_user(conn, school, ["supervisor"])
        world.users["agency_admin"] = make_user(conn, school, ["agency_admin"])
        world.users["system_admin"] = make_user(conn, world.agencies["prosecutor"].id, ["system_admin"])
        world.users["oversight"] = make_user(conn, world.agencies["prosecutor"].id, ["oversight"])
        world.users["council"] = make_user(conn, world.agencies["prosecutor"].id, ["council"])
        world.users["social_worker"] = make_user(conn, world.agencies["social_services"].id, ["caseworker"])
        world.users["social_admin"] = make_user(conn, world.agencies["social_services"].id, ["agency_admin"])
    return world
