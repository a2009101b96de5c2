"""Professional disagreements over HTTP: three stages with their clocks (PRACTICE.md §3)."""
from __future__ import annotations

from services import clock
from tests.clocks.conftest import api, local, make_case


def _raise(client, cw, case, user="teacher", **body):
    payload = {"case_id": case.id, "against_agency_id": cw.agency_id, "decision_type": "screen_out",
               "reason": "The screen-out ignores the school's two earlier concerns."}
    payload.update(body)
    return api(client, cw, user).post("/api/v1/disagreements", json=payload)


def test_a_participant_raises_and_the_disagreement_climbs_three_stages(client, cw, admin_conn, ctx):
    case = make_case(admin_conn, cw)
    clock.set_now(local(2026, 4, 10, 16))  # Friday
    res = _raise(client, cw, case)
    assert res.status_code == 201, res.get_json()
    d = res.get_json()
    assert (d["stage"], d["state"]) == (1, "open")
    assert d["stage_due_at"] == "2026-04-14T11:00:00+00:00"  # 2 working days: Tuesday 16:00
    clocks = admin_conn.execute("SELECT kind, agency_id, stopped_at FROM clocks WHERE subject_type ="
                                " 'disagreement' AND subject_id = %s ORDER BY id", (d["id"],)).fetchall()
    assert [(c["kind"], c["agency_id"]) for c in clocks] == [("disagreement_stage_1", cw.agency_id)]
    topic = admin_conn.execute("SELECT payload FROM outbox WHERE topic = 'disagreement.raised'"
                               " AND (payload->>'disagreement_id')::bigint = %s", (d["id"],)).fetchone()
    assert topic["payload"]["user_ids"] == [cw.users["worker"].id]  # the other side's worker

    clock.set_now(local(2026, 4, 14, 17))
    res = api(client, cw, "teacher").post(f"/api/v1/disagreements/{d['id']}/advance",
                                          json={"reason": "No reply within two working days."})
    assert res.status_code == 200 and res.get_json()["stage"] == 2
    # Stage 2 belongs to supervisors: a caseworker may not take it to oversight.
    res = api(client, cw, "teacher").post(f"/api/v1/disagreements/{d['id']}/advance",
                                          json={"reason": "Still no agreement."})
    assert res.status_code == 403 and res.get_json()["reason"] == "not_supervisor"
    res = api(client, cw, "school_supervisor").post(f"/api/v1/disagreements/{d['id']}/advance",
                                                    json={"reason": "Supervisors did not agree."})
    assert res.status_code == 200 and res.get_json()["stage"] == 3
    kinds = admin_conn.execute("SELECT kind, stop_reason FROM clocks WHERE subject_type = 'disagreement'"
                               " AND subject_id = %s ORDER BY id", (d["id"],)).fetchall()
    assert [(k["kind"], k["stop_reason"]) for k in kinds] == [
        ("disagreement_stage_1", "superseded"), ("disagreement_stage_2", "superseded"),
        ("disagreement_stage_3", None)]

    res = api(client, cw, "supervisor").post(f"/api/v1/disagreements/{d['id']}/resolve",
                                             json={"note": "We agree."})
    assert res.status_code == 403 and res.get_json()["reason"] == "not_oversight"
    res = api(client, cw, "oversight").post(f"/api/v1/disagreements/{d['id']}/resolve",
                                            json={"note": "The referral is to be screened in again."})
    assert res.status_code == 200 and res.get_json()["state"] == "resolved"
    again = api(client, cw, "oversight").post(f"/api/v1/disagreements/{d['id']}/resolve",
                                              json={"note": "Twice"})
    assert again.status_code == 409
    view = api(client, cw, "teacher").get(f"/api/v1/disagreements/{d['id']}").get_json()
    assert [s["stage"] for s in view["stages"]] == [1, 2, 3]


def test_a_disagreement_on_a_case_one_does_not_take_part_in_is_refused(client, cw, admin_conn, ctx):
    case = make_case(admin_conn, cw)
    before = admin_conn.execute("SELECT count(*) AS n FROM disagreements").fetchone()["n"]
    res = _raise(client, cw, case, user="outsider")
    assert res.status_code == 403 and res.get_json()["reason"] == "not_case_participant"
    missing = _raise(client, cw, case, user="outsider", case_id=2**62)
    assert missing.status_code == 403 and missing.get_json()["detail"] == res.get_json()["detail"]
    assert admin_conn.execute("SELECT count(*) AS n FROM disagreements").fetchone()["n"] == before


def test_a_disagreement_must_be_with_another_participating_agency(client, cw, admin_conn, ctx):
    case = make_case(admin_conn, cw)
    res = _raise(client, cw, case, against_agency_id=cw.other_agency_id)
    assert res.status_code == 422 and res.get_json()["field"] == "against_agency_id"
    res = _raise(client, cw, case, reason="")
    assert res.status_code == 422


def test_people_outside_the_disagreement_do_not_see_it(client, cw, admin_conn, ctx):
    case = make_case(admin_conn, cw)
    d = _raise(client, cw, case).get_json()
    assert api(client, cw, "outsider").get(f"/api/v1/disagreements/{d['id']}").status_code == 404
    mine = api(client, cw, "worker").get(f"/api/v1/disagreements?case_id={case.id}").get_json()
    assert [x["id"] for x in mine["items"]] == [d["id"]]
