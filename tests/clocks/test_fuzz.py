"""No request to the clocks, escalations, disagreements, notifications or region administration
API produces a 500, whatever its input: Schemathesis generates them from the OpenAPI document,
as the people who may reach past the access checks."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from services import clock
from tests.clocks.conftest import api, local, make_clock_world, new_subject_id, start, sweep_at

MINE = ("/api/v1/clocks", "/api/v1/escalations", "/api/v1/disagreements", "/api/v1/notifications",
        "/api/v1/admin/regions", "/api/v1/admin/agencies/{agency_id}/heads",
        "/api/v1/admin/outbox")


@pytest.fixture(scope="module")
def cw(app):
    """A region of this module's own: the fuzzer changes its calendar, policy and heads."""
    with app.app_context():
        return make_clock_world()


@pytest.fixture
def real_ids(cw, db, admin_conn, ctx):
    """Ids of a real escalated clock and its escalation, for the fuzzer to hit."""
    clock_id = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16),
                     subject_id=new_subject_id())
    sweep_at(db, local(2026, 4, 13, 16))
    esc = admin_conn.execute("SELECT id FROM escalations WHERE clock_id = %s", (clock_id,)).fetchone()["id"]
    return {"clock_id": clock_id, "escalation_id": esc, "agency_id": cw.agency_id,
            "code": cw.region_code}


@pytest.mark.parametrize("who", ["supervisor", "sysadmin"])
def test_generated_requests_never_produce_a_500(app, client, cw, real_ids, who):
    clock.set_now(local(2026, 4, 13, 17))
    user = api(client, cw, who)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith(MINE)]
    assert len(operations) >= 20
    failures = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            # Half the generated path values point at real records, so that the checks after
            # the access decision run too.
            for name, value in (case.path_parameters or {}).items():
                if name in real_ids and (not isinstance(value, int) or value % 2):
                    case.path_parameters[name] = real_ids[name]
            response = case.call(headers=user.headers)
            kind = response.headers.get("Content-Type") or response.headers.get("content-type") or ""
            kind = kind[0] if isinstance(kind, list) else kind
            if response.status_code >= 500 or (response.status_code >= 400
                                               and not kind.startswith("application/problem+json")):
                failures.append((case.method, case.path, case.path_parameters, response.status_code,
                                 response.text[:200]))

        check()
    assert not failures, failures[:5]


def test_far_future_due_times_and_durations_are_refused(client, cw, real_ids):
    clock.set_now(local(2026, 4, 13, 17))
    sup = api(client, cw, "supervisor")
    res = sup.post(f"/api/v1/clocks/{real_ids['clock_id']}/due",
                   json={"due_at": "9999-12-31T23:00:00+00:00", "reason": "typo"})
    assert res.status_code == 422 and res.get_json()["field"] == "due_at"
    res = api(client, cw, "sysadmin").put(
        f"/api/v1/admin/regions/{cw.region_code}/deadline-policy",
        json={"reason": "typo", "rules": [{"clock_kind": "review", "priority": "any",
                                           "amount": 99999, "unit": "months"}]})
    assert res.status_code == 422 and res.get_json()["field"] == "rules.amount"
