"""The demo world (Platform issue, item 10): Mangystau region, its agencies and one user per role.

Idempotent: what exists is left alone. Passwords come from DEMO_PASSWORD or are generated; every
user's password and TOTP secret is written to ``var/demo-credentials.json``.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pyotp

import audit
from audit import Actor, AuditAction
from services.agencies import actions, queries
from services.agencies.records import MFA_ROLES

REGION = ("mangystau", "Mangystau region")
DISTRICTS = [("aktau", "Aktau"), ("munaily", "Munaily district"), ("zhanaozen", "Zhanaozen")]
AGENCIES = [
    ("school-12-munaily", "Secondary School No. 12, Munaily district", "school", "munaily"),
    ("school-5-aktau", "Secondary School No. 5, Aktau", "school", "aktau"),
    ("social-munaily", "Munaily guardianship and family support", "social_services", "munaily"),
    ("police-juvenile-mng", "Mangystau police juvenile unit", "police", "aktau"),
    ("psych-center-mng", "Mangystau psychological support centre", "psychology", "aktau"),
    ("clinic-munaily", "Munaily district clinic", "health", "munaily"),
    ("prosecutor-mng", "Mangystau regional prosecutor's office", "prosecutor", "aktau"),
    ("ngo-aktau", "Aktau children's support NGO", "ngo", "aktau"),
]
USERS = [
    ("psychologist.school12", "Aigerim Nurlanova", "school-12-munaily", ["caseworker"], "kk"),
    ("deputy.school12", "Saule Bekova", "school-12-munaily", ["supervisor"], "ru"),
    ("teacher.school5", "Dana Serikova", "school-5-aktau", ["caseworker"], "ru"),
    ("worker.social", "Marat Abenov", "social-munaily", ["caseworker"], "ru"),
    ("head.social", "Gulnar Tleuova", "social-munaily", ["supervisor"], "kk"),
    ("inspector.police", "Yerlan Dosov", "police-juvenile-mng", ["caseworker"], "ru"),
    ("chief.police", "Nurlan Kasenov", "police-juvenile-mng", ["supervisor"], "ru"),
    ("psychologist.center", "Aliya Zhakupova", "psych-center-mng", ["caseworker"], "kk"),
    ("nurse.clinic", "Ainur Sadykova", "clinic-munaily", ["caseworker"], "ru"),
    ("prosecutor.mng", "Kairat Omarov", "prosecutor-mng", ["oversight"], "ru"),
    ("secretary.council", "Zhanna Iskakova", "prosecutor-mng", ["council"], "ru"),
    ("admin.school12", "Timur Akhmetov", "school-12-munaily", ["agency_admin"], "en"),
    ("sysadmin", "System Operator", "prosecutor-mng", ["system_admin"], "en"),
]


def credentials_path() -> Path:
    return Path(os.environ.get("QORGAU_VAR", "var")) / "demo-credentials.json"


def load(conn, *, password: str | None = None, path: Path | None = None) -> dict:
    """Create whatever of the demo world is missing; return {"created": n, "path": ...}."""
    actor = Actor.system("demo-loader")
    path = path or credentials_path()
    existing = json.loads(path.read_text()) if path.exists() else {}
    region = queries.get_region_by_code(conn, REGION[0])
    region_id = region["id"] if region else actions.create_region(conn, actor=actor, code=REGION[0], name=REGION[1])
    for code, name in DISTRICTS:
        if queries.get_district(conn, region_id, code) is None:
            actions.create_district(conn, actor=actor, region_id=region_id, code=code, name=name)
    for code, name, kind, district in AGENCIES:
        if queries.get_agency_by_code(conn, code) is None:
            actions.create_agency(conn, actor=actor, code=code, name=name, kind=kind,
                                  region_code=REGION[0], district_code=district)
    created = 0
    for username, full_name, agency_code, roles, lang in USERS:
        if queries.get_user_by_username(conn, username) is not None:
            continue
        secret = pyotp.random_base32() if MFA_ROLES.intersection(roles) else None
        pw = password or secrets.token_urlsafe(12)
        agency = queries.get_agency_by_code(conn, agency_code)
        actions.create_user(conn, actor=actor, agency_id=agency.id, username=username,
                            full_name=full_name, password=pw, roles=roles, preferred_language=lang,
                            totp_secret=secret)
        existing[username] = {"password": pw, "totp_secret": secret, "roles": roles,
                              "agency": agency_code}
        created += 1
    if created:
        audit.record(conn, actor=actor, action=AuditAction.DEMO_LOADED, object_type="region",
                     object_id=str(region_id), details={"users_created": created})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(existing, indent=2, ensure_ascii=False))
        path.chmod(0o600)
    return {"created": created, "path": str(path)}
