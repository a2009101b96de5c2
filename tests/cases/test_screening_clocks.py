"""Each receiving agency of a referral gets its own acknowledgement and screening clocks, and
stops its own by its own decision; the referral leaving screening stops everyone's."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services import clock
from tests.core_factories import create_child, file_referral

REFERRALS = "/api/v1/referrals"


@pytest.fixture(autouse=True)
def real_clock_afterwards():
    """Every test leaves the clock running again."""
    yield
    clock.set_now(None)


@pytest.fixture
def ids(cw):
    return {name: a.id for name, a in cw.agencies.items()}


def clocks(admin_conn, referral_id: int) -> list[dict]:
    return admin_conn.execute(
        "SELECT kind, agency_id, priority, started_at, due_at, stopped_at, stop_reason FROM clocks"
        " WHERE subject_type = 'referral' AND subject_id = %s ORDER BY id", (referral_id,)).fetchall()


def running(admin_conn, referral_id: int) -> set[tuple[str, int]]:
    return {(c["kind"], c["agency_id"]) for c in clocks(admin_conn, referral_id) if c["stopped_at"] is None}


def referral_to(api, agencies: list[int], **risk) -> dict:
    child = create_child(api("caseworker"))["id"]
    return file_referral(api("caseworker"), [child], agencies, risk=risk or {"harm_suspected": True})


def screen(api_user, referral: dict, **body):
    response = api_user.post(f"{REFERRALS}/{referral['id']}/screening",
                             json={"version": referral["version"], **body})
    assert response.status_code in (200, 202), response.get_json()
    return response.get_json()


def test_every_receiving_agency_acknowledges_and_screens_on_its_own_clock(api, ids, admin_conn):
    referral = referral_to(api, [ids["social_services"], ids["police"]], imminent_danger=True)
    assert running(admin_conn, referral["id"]) == {
        ("acknowledgement", ids["social_services"]), ("screening_decision", ids["social_services"]),
        ("acknowledgement", ids["police"]), ("screening_decision", ids["police"])}
    # The police confirm the priority: their acknowledgement, not social services'.
    confirmed = api("police_worker").post(f"{REFERRALS}/{referral['id']}/priority",
                                          json={"priority": "immediate", "version": 1})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert running(admin_conn, referral["id"]) == {
        ("acknowledgement", ids["social_services"]), ("screening_decision", ids["social_services"]),
        ("screening_decision", ids["police"])}
    # The police redirect to the clinic: their screening ends, the clinic's begins now.
    later = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=2)
    clock.set_now(later)
    screen(api("police_worker"), referral, decision="redirect", to_agency_id=ids["health"],
           reason="Medical examination first.")
    assert running(admin_conn, referral["id"]) == {
        ("acknowledgement", ids["social_services"]), ("screening_decision", ids["social_services"]),
        ("acknowledgement", ids["health"]), ("screening_decision", ids["health"])}
    clinic = [c for c in clocks(admin_conn, referral["id"]) if c["agency_id"] == ids["health"]]
    assert {c["started_at"] for c in clinic} == {later}
    # Social services accept: the referral is accepted and nobody screens it any more.
    screen(api("social_worker"), referral, decision="accept")
    assert running(admin_conn, referral["id"]) == set()
    reasons = {(c["kind"], c["agency_id"]): c["stop_reason"] for c in clocks(admin_conn, referral["id"])}
    assert reasons[("screening_decision", ids["social_services"])] == "completed"
    assert reasons[("screening_decision", ids["police"])] == "completed"
    assert reasons[("screening_decision", ids["health"])] == "cancelled"


def test_a_screen_out_keeps_the_agencys_clock_until_approved_and_stops_only_its_own(api, ids, admin_conn):
    referral = referral_to(api, [ids["social_services"], ids["police"]])
    assert running(admin_conn, referral["id"]) == {
        ("screening_decision", ids["social_services"]), ("screening_decision", ids["police"])}
    asked = screen(api("police_worker"), referral, decision="screen_out",
                   reason="No offence indicated; social services lead.")
    assert ("screening_decision", ids["police"]) in running(admin_conn, referral["id"])
    approved = api("police_supervisor").post(f"/api/v1/approvals/{asked['approval_id']}",
                                             json={"decision": "approve", "note": "Agreed."})
    assert approved.status_code == 200, approved.get_json()
    assert running(admin_conn, referral["id"]) == {("screening_decision", ids["social_services"])}


def test_a_raised_priority_restarts_each_agencys_screening_from_its_start(api, ids, admin_conn):
    referral = referral_to(api, [ids["social_services"], ids["police"]])
    before = {c["agency_id"]: c["started_at"] for c in clocks(admin_conn, referral["id"])}
    raised = api("social_worker").post(f"{REFERRALS}/{referral['id']}/priority",
                                       json={"priority": "urgent", "version": 1})
    assert raised.status_code == 200, raised.get_json()
    now = {(c["kind"], c["agency_id"]): c for c in clocks(admin_conn, referral["id"]) if c["stopped_at"] is None}
    assert set(now) == {("screening_decision", ids["social_services"]), ("screening_decision", ids["police"])}
    for (_, agency), c in now.items():
        assert (c["priority"], c["started_at"]) == ("urgent", before[agency])


def test_a_correction_carries_each_agencys_clocks_over(api, ids, admin_conn):
    child = create_child(api("caseworker"))["id"]
    referral = file_referral(api("caseworker"), [child], [ids["social_services"], ids["police"]],
                             risk={"imminent_danger": True})
    api("police_worker").post(f"{REFERRALS}/{referral['id']}/priority",
                              json={"priority": "immediate", "version": 1})
    second = api("caseworker").post(f"{REFERRALS}/{referral['id']}/versions", json={
        "children": [{"child_id": child}],
        "categories": ["neglect"], "observed_at": referral["observed_at"], "observation": "Corrected.",
        "receiving_agency_ids": [ids["social_services"], ids["police"]], "version": 1})
    assert second.status_code in (200, 201), second.get_json()
    new_id = second.get_json()["id"]
    assert running(admin_conn, referral["id"]) == set()
    # Acknowledged by the police before the correction: only social services still owe one.
    assert running(admin_conn, new_id) == {
        ("acknowledgement", ids["social_services"]), ("screening_decision", ids["social_services"]),
        ("screening_decision", ids["police"])}
    first_start = {c["started_at"] for c in clocks(admin_conn, referral["id"])}
    assert {c["started_at"] for c in clocks(admin_conn, new_id)} == first_start
