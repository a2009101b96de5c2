"""Children through the API: recording with IIN checks and duplicate detection, opening, finding."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.core_factories import (Api, assert_problem, at_once, audit_events, child_body, count,
                                  create_child, fresh_iin, key, random_birthday, random_name)

CHILDREN = "/api/v1/children"


def children_named(admin_conn, last_name: str) -> int:
    return count(admin_conn, "SELECT 1 FROM children WHERE last_name = %s", last_name)


def test_caseworker_records_a_child_with_an_iin_and_the_record_is_audited(api, core, admin_conn, mark):
    born = random_birthday()
    iin = fresh_iin(born, "M")
    response = api("caseworker").post(CHILDREN, json=child_body(iin=iin, date_of_birth=born.isoformat(),
                                                                sex=None, patronymic="Serikuly"))
    assert response.status_code == 201, response.get_json()
    child = response.get_json()
    assert child["iin"] == iin and child["sex"] == "M"  # the sex is read from the IIN
    assert child["region_id"] == core.region_id
    events = audit_events(admin_conn, core.users["caseworker"], since=mark, action="child_created")
    assert [(e["object_type"], e["object_id"], e["child_id"]) for e in events] == [
        ("child", str(child["id"]), child["id"])]


def test_a_child_may_have_no_iin(api):
    child = create_child(api("caseworker"))
    assert child["iin"] is None


def test_opening_a_record_is_audited_with_its_purpose(api, core, admin_conn, mark):
    child = create_child(api("caseworker"))
    response = api("caseworker").get(f"{CHILDREN}/{child['id']}?purpose=screening")
    assert response.status_code == 200
    assert response.get_json()["last_name"] == child["last_name"]
    viewed = audit_events(admin_conn, core.users["caseworker"], since=mark, action="child_viewed")
    assert [(e["child_id"], e["purpose"], e["outcome"]) for e in viewed] == [
        (child["id"], "screening", "allowed")]


@pytest.mark.parametrize("iin, field, reason", [
    ("12345", "iin", "length"),
    ("12345678901a", "iin", "not_digits"),
    ("050615301100", "iin", "never_issued"),  # PRACTICE.md §6: both passes give 10
    ("900101300008", "iin", "check_digit"),
    ("901301300007", "iin", "date"),
])
def test_an_invalid_iin_is_refused_naming_the_field_and_nothing_is_written(api, admin_conn, iin, field, reason):
    body = child_body(iin=iin)
    problem = assert_problem(api("caseworker").post(CHILDREN, json=body), 422, field)
    assert problem["reason"] == reason
    assert children_named(admin_conn, body["last_name"]) == 0


def test_an_iin_must_agree_with_the_date_of_birth_and_sex(api, admin_conn):
    born = random_birthday()
    iin = fresh_iin(born, "F")
    other_day = child_body(iin=iin, date_of_birth=(born - timedelta(days=1)).isoformat())
    assert assert_problem(api("caseworker").post(CHILDREN, json=other_day), 422, "iin")["reason"] == \
        "date_of_birth_mismatch"
    other_sex = child_body(iin=iin, date_of_birth=born.isoformat(), sex="M")
    assert assert_problem(api("caseworker").post(CHILDREN, json=other_sex), 422, "iin")["reason"] == \
        "sex_mismatch"
    assert children_named(admin_conn, other_day["last_name"]) + children_named(admin_conn, other_sex["last_name"]) == 0


@pytest.mark.parametrize("change, field", [
    ({"date_of_birth": (date.today() + timedelta(days=2)).isoformat()}, "date_of_birth"),
    ({"date_of_birth": "1990-01-01"}, "date_of_birth"),
    ({"date_of_birth": "not a date"}, "date_of_birth"),
    ({"nickname": "Bob"}, "nickname"),
    ({"first_name": 7}, "first_name"),
    ({"confirmed_different": "yes"}, "confirmed_different"),
    ({"sex": "X"}, "sex"),
    ({"school_agency_id": 999999999}, "school_agency_id"),
    ({"district_id": 999999999}, "district_id"),
    ({"district_id": 2**63}, "district_id"),
    ({"first_name": "Ab\u0000"}, "first_name"),
])
def test_bad_input_is_a_problem_naming_the_field(api, admin_conn, change, field):
    body = child_body(**change)
    assert_problem(api("caseworker").post(CHILDREN, json=body), 422, field)
    assert children_named(admin_conn, body["last_name"]) == 0


def test_a_school_that_is_not_a_school_is_refused(api, core):
    body = child_body(school_agency_id=core.agencies["police"].id)
    assert_problem(api("caseworker").post(CHILDREN, json=body), 422, "school_agency_id")


def test_the_same_iin_is_never_a_different_child(api, core, admin_conn, mark):
    born = random_birthday()
    iin = fresh_iin(born)
    first = create_child(api("caseworker"), iin=iin, date_of_birth=born.isoformat())
    again = child_body(iin=iin, date_of_birth=born.isoformat(), confirmed_different=True)
    problem = assert_problem(api("outsider").post(CHILDREN, json=again), 409, "iin")
    assert problem["candidates"] == [{"id": first["id"], "last_name": first["last_name"],
                                      "first_name": first["first_name"],
                                      "date_of_birth": born.isoformat()}]
    assert count(admin_conn, "SELECT 1 FROM children WHERE iin = %s", iin) == 1
    # The lookup showed another agency's child: that is recorded against the child.
    shown = audit_events(admin_conn, core.users["outsider"], since=mark, action="child_searched")
    assert [(e["child_id"], e["purpose"]) for e in shown] == [(first["id"], "duplicate_check")]


def test_a_probable_duplicate_in_another_script_needs_confirmation(api, core, admin_conn, mark):
    born = random_birthday().isoformat()
    first = create_child(api("caseworker"), last_name="Нурланова", first_name="Айгерим", date_of_birth=born)
    latin = child_body(last_name="Nurlanova", first_name="Aigerim", date_of_birth=born)
    problem = assert_problem(api("social_worker").post(CHILDREN, json=latin), 409, "confirmed_different")
    assert [c["id"] for c in problem["candidates"]] == [first["id"]]
    assert count(admin_conn, "SELECT 1 FROM children WHERE date_of_birth = %s AND last_name = 'Nurlanova'",
                 date.fromisoformat(born)) == 0

    confirmed = api("social_worker").post(CHILDREN, json={**latin, "confirmed_different": True})
    assert confirmed.status_code == 201
    overridden = audit_events(admin_conn, core.users["social_worker"], since=mark,
                              action="child_duplicate_overridden")
    assert [(e["child_id"], e["details"]) for e in overridden] == [
        (confirmed.get_json()["id"], {"candidate_ids": [first["id"]]})]


def test_another_agency_gets_the_same_404_as_for_a_missing_child(api, core, admin_conn, mark):
    child = create_child(api("caseworker"))
    hidden = assert_problem(api("outsider").get(f"{CHILDREN}/{child['id']}"), 404)
    missing = assert_problem(api("outsider").get(f"{CHILDREN}/999999999"), 404)
    assert_problem(api("outsider").get(f"{CHILDREN}/{2**64}"), 404)
    same = ("type", "title", "status", "detail")
    assert [hidden[k] for k in same] == [missing[k] for k in same]
    assert set(hidden) == set(missing)
    denied = audit_events(admin_conn, core.users["outsider"], since=mark, action="access_denied")
    assert [(e["object_id"], e["child_id"], e["outcome"]) for e in denied] == [
        (str(child["id"]), child["id"], "denied"), ("999999999", None, "denied")]


@pytest.mark.parametrize("role", ["agency_admin", "system_admin", "council"])
def test_admin_and_council_roles_see_no_child_records(api, core, admin_conn, role, mark):
    child = create_child(api("caseworker"))
    assert_problem(api(role).get(f"{CHILDREN}/{child['id']}"), 404)
    assert_problem(api(role).post(CHILDREN, json=child_body()), 403)
    assert_problem(api(role).get(f"{CHILDREN}?iin={fresh_iin(random_birthday())}"), 403)
    denied = audit_events(admin_conn, core.users[role], since=mark, action="access_denied")
    assert len(denied) == 3 and {e["outcome"] for e in denied} == {"denied"}


def test_oversight_opens_any_child_of_its_region(api, core):
    child = create_child(api("caseworker"))
    assert api("oversight").get(f"{CHILDREN}/{child['id']}?purpose=oversight_review").status_code == 200


def test_search_by_iin_shows_readable_children_and_only_the_id_of_others(api, core, admin_conn, mark):
    born = random_birthday()
    iin = fresh_iin(born)
    child = create_child(api("caseworker"), iin=iin, date_of_birth=born.isoformat())
    mine = api("caseworker").get(f"{CHILDREN}?iin={iin}").get_json()
    assert [c["id"] for c in mine["items"]] == [child["id"]] and mine["existing_child_ids"] == []
    theirs = api("outsider").get(f"{CHILDREN}?iin={iin}")
    assert theirs.status_code == 200
    assert theirs.get_json() == {"items": [], "existing_child_ids": [child["id"]]}
    assert child["last_name"] not in theirs.get_data(as_text=True)
    searched = audit_events(admin_conn, core.users["outsider"], since=mark, action="child_searched")
    assert [(e["child_id"], e["details"]["by"]) for e in searched] == [(child["id"], "iin")]
    nobody = api("outsider").get(f"{CHILDREN}?iin={fresh_iin(random_birthday())}").get_json()
    assert nobody == {"items": [], "existing_child_ids": []}


def test_search_by_name_and_birthday_matches_across_scripts(api, core):
    born = random_birthday().isoformat()
    child = create_child(api("caseworker"), last_name="Серикова", first_name="Жанна", date_of_birth=born)
    found = api("caseworker").get(CHILDREN, query_string={
        "last_name": "Serikova", "first_name": "Zhanna", "date_of_birth": born}).get_json()
    assert [c["id"] for c in found["items"]] == [child["id"]]
    other = api("caseworker").get(CHILDREN, query_string={
        "last_name": random_name(), "first_name": random_name(), "date_of_birth": born}).get_json()
    assert other["items"] == []


@pytest.mark.parametrize("query, field", [
    ({}, "date_of_birth"),
    ({"date_of_birth": "2015-01-01", "last_name": "A"}, "first_name"),
    ({"iin": "123"}, "iin"),
    ({"colour": "red"}, "colour"),
    ({"date_of_birth": "yesterday", "last_name": "A", "first_name": "B"}, "date_of_birth"),
])
def test_a_search_needs_an_iin_or_a_name_and_birthday(api, query, field):
    assert_problem(api("caseworker").get(CHILDREN, query_string=query), 422, field)


def test_a_retry_with_the_same_key_records_the_child_once(api, admin_conn):
    body = child_body()
    headers = key()
    first = api("caseworker").post(CHILDREN, json=body, headers=headers)
    again = api("caseworker").post(CHILDREN, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert children_named(admin_conn, body["last_name"]) == 1
    different = api("caseworker").post(CHILDREN, json=child_body(), headers=headers)
    assert_problem(different, 422, "Idempotency-Key")


def test_concurrent_requests_with_one_key_record_one_child(app, core, admin_conn):
    body = child_body()
    headers = key()
    clients = [Api(app.test_client(), core.users["caseworker"]) for _ in range(2)]
    results = at_once(*[lambda c=c: c.post(CHILDREN, json=body, headers=headers) for c in clients])
    assert [r.status_code for r in results] == [201, 201]
    assert results[0].get_json()["id"] == results[1].get_json()["id"]
    assert children_named(admin_conn, body["last_name"]) == 1


def test_a_malformed_idempotency_key_is_refused(api):
    assert_problem(api("caseworker").post(CHILDREN, json=child_body(), headers={"Idempotency-Key": "short"}),
                   422, "Idempotency-Key")
