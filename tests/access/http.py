"""The third way to ask "may this user do this?": the HTTP API, one mapping line per action.

Each action of the authorization file maps to the request that exercises it and a judge that
reads the answer: allowed, or refused with the same 404 a missing record gets (a change refused on
a record the user may read may also be a 403 or 409). Anything else (a 422, a 500) fails the
check. An action whose endpoint is not built yet is listed in ``PENDING_HTTP``; test_authz_file.py
fails when a pending action's route appears, so that the list only ever shrinks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from werkzeug.exceptions import MethodNotAllowed, NotFound

from tests.platform.helpers import bearer  # noqa: F401  (the header every probe sends)

# Actions whose endpoint does not exist yet. Remove a name when its endpoint lands: from then on
# every assertion of that action is checked over HTTP, and a missing route fails.
PENDING_HTTP: frozenset[str] = frozenset()


class UnexpectedAnswer(AssertionError):
    """A response that is neither "allowed" nor the 404 every hidden record gets."""


# A refusal is the 404 a missing record gets. A change the user may not make to a record they may
# read can also be refused with 403 or 409 (nothing is revealed); test_authz_file.py checks that
# those answers only ever go to readers of the record.
REFUSALS = {404}
REFUSALS_OF_CHANGES = {403, 404, 409}


def by_status(response, target, refusals=frozenset(REFUSALS)) -> bool:
    """2xx: allowed. A refusal status: refused. Anything else is a wrong answer."""
    if 200 <= response.status_code < 300:
        return True
    if response.status_code in refusals:
        return False
    raise UnexpectedAnswer(f"{response.status_code} {response.get_data(as_text=True)[:300]}")


def change_made(response, target) -> bool:
    return by_status(response, target, REFUSALS_OF_CHANGES)


def _entries(response) -> list[dict]:
    body = response.get_json()
    return body["items"] if isinstance(body, dict) else body


def entry_body_shown(response, target) -> bool:
    """Chronology listing: the entry is listed for anyone who reads the case; is its body?"""
    if not by_status(response, target):
        return False
    entry = next((e for e in _entries(response) if e["id"] == target["id"]), None)
    if entry is None:
        raise UnexpectedAnswer(f"entry {target['id']} is missing from a case its reader may read")
    return entry.get("body") is not None


def restricted_bodies_shown(response, target) -> bool:
    """Chronology listing: are the restricted entries' bodies shown (all of them, or none)?"""
    if not by_status(response, target):
        return False
    shown = {e.get("body") is not None for e in _entries(response) if e.get("visibility") == "restricted"}
    if len(shown) != 1:
        raise UnexpectedAnswer(f"restricted entries shown inconsistently (or none listed): {shown}")
    return shown.pop()


def referrer_shown(response, target) -> bool | None:
    """A referral's readers see the referrer's identity, or ``referrer: null``.

    Someone who may not read the referral gets its 404 and no answer about the referrer: None, so
    the check is made where the API can make it (the referrer after acceptance still knows who
    they are, but reads the status only).
    """
    if not by_status(response, target):
        return None
    return response.get_json()["referrer"] is not None


@dataclass(frozen=True)
class Probe:
    """The request that exercises an action; ``{id}`` is the object's id, ``{case}`` an entry's case."""

    method: str
    path: str
    judge: Callable = by_status
    body: dict | None = None
    mutates: bool = False  # sent to a scratch copy of the world, never to the one reads are checked on
    changes_rights: bool = False  # when it succeeds: then it gets a copy of its own

    def url(self, target: dict) -> str:
        return self.path.format(**target)


NOTE = {"kind": "note", "visibility": "all_participants", "body": "Spoke to the class teacher."}

ROUTES: dict[str, Probe] = {
    "read_child": Probe("GET", "/api/v1/children/{id}"),
    "read_referral": Probe("GET", "/api/v1/referrals/{id}"),
    "read_referral_status": Probe("GET", "/api/v1/referrals/{id}/status"),
    "read_referrer": Probe("GET", "/api/v1/referrals/{id}", judge=referrer_shown),
    "screen_referral": Probe("POST", "/api/v1/referrals/{id}/screening", judge=change_made, mutates=True,
                             changes_rights=True, body={"decision": "accept", "version": 1}),
    "read_case": Probe("GET", "/api/v1/cases/{id}"),
    "write_case": Probe("POST", "/api/v1/cases/{id}/chronology", judge=change_made, body=NOTE, mutates=True),
    "read_restricted": Probe("GET", "/api/v1/cases/{id}/chronology", judge=restricted_bodies_shown),
    "read_entry_body": Probe("GET", "/api/v1/cases/{case}/chronology", judge=entry_body_shown),
    "instruct": Probe("POST", "/api/v1/cases/{id}/instructions", judge=change_made, mutates=True,
                      body={"body": "Hold a strategy meeting within 24 hours."}),
    "export": Probe("GET", "/api/v1/cases/{id}/export"),
}


def route_exists(app, probe: Probe) -> bool:
    """Does the app answer ``probe``'s method on its path (ids filled with 1)?"""
    path = probe.url({"id": 1, "case": 1})
    try:
        app.url_map.bind("localhost").match(path, method=probe.method)
    except (NotFound, MethodNotAllowed):
        return False
    return True


def target_of(world, kind: str, name: str) -> dict:
    """The ids a probe's path needs: the object's, and for an entry its case's."""
    target = {"id": world.ids(kind)[name]}
    if kind == "entry":
        target["case"] = world.cases[world.entry_meta[name]["case"]]
    return target


def ask(client, headers: dict, probe: Probe, target: dict) -> tuple[bool | None, int]:
    """Send ``probe`` for ``target``: the judged answer (None: not observable here) and the status."""
    response = client.open(probe.url(target), method=probe.method, headers=headers, json=probe.body)
    return probe.judge(response, target), response.status_code
