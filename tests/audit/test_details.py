"""What ``record`` accepts: ids and codes only, never content, secrets or free text (no DB)."""
from __future__ import annotations

import pytest

from audit.details import AuditValueError, check_details, check_purpose
from audit.events import Actor, AuditAction
from audit.trail import event_values

ACTOR = Actor(user_id=1, agency_id=2, roles=frozenset({"caseworker"}))


def values(**overrides):
    args = dict(actor=ACTOR, action=AuditAction.CHILD_VIEWED, object_type="child", object_id=5)
    args.update(overrides)
    return event_values(**args)


def test_ids_codes_flags_and_short_lists_are_kept():
    details = {"case_id": 7, "roles": ["caseworker", "supervisor"], "mfa": True,
               "reason": "not_system_admin", "since": "2026-01-01T00:00:00+00:00", "token_id": 3}
    assert check_details(details) == details


@pytest.mark.parametrize("key", ["password", "totp_code", "token", "api_token", "secret",
                                 "full_name", "note", "email", "session_cookie", "narrative"])
def test_keys_naming_secrets_or_content_are_refused(key):
    with pytest.raises(AuditValueError, match=key):
        check_details({key: 1})


@pytest.mark.parametrize("value", ["two words", "x" * 65, "a@b.kz", 1.5, {"nested": 1},
                                   "line\nbreak"])
def test_free_text_floats_and_nesting_are_refused(value):
    with pytest.raises(AuditValueError):
        check_details({"case_id": value})


def test_too_many_details_are_refused():
    with pytest.raises(AuditValueError):
        check_details({f"k{i}": i for i in range(17)})


def test_purpose_is_a_code_not_a_sentence():
    assert check_purpose("emergency_access") == "emergency_access"
    with pytest.raises(AuditValueError, match="purpose"):
        check_purpose("The child said her father hit her")


def test_actions_outside_the_catalogue_are_refused():
    assert values(action="child_viewed")["action"] == "child_viewed"
    with pytest.raises(AuditValueError, match="catalogue"):
        values(action="child_deleted_quietly")


def test_outcome_is_allowed_or_denied():
    assert values(outcome="denied")["outcome"] == "denied"
    with pytest.raises(AuditValueError):
        values(outcome="maybe")


def test_object_ids_must_be_codes_and_may_be_missing():
    assert values(object_id=None)["object_id"] is None
    assert values(object_id=12)["object_id"] == "12"
    with pytest.raises(AuditValueError):
        values(object_id="Aigerim Nurlanovna")


def test_request_metadata_is_bounded_and_stripped_of_control_characters():
    from audit import context

    with context.bound(context.AuditContext(user_agent="UA\x00\n" + "x" * 500, channel="web")):
        row = values()
    assert row["user_agent"].startswith("UA") and len(row["user_agent"]) == 256
    assert "\x00" not in row["user_agent"] and row["channel"] == "web"


def test_only_an_actor_can_act():
    with pytest.raises(AuditValueError):
        values(actor={"user_id": 1})
