"""The navigation bar: which pages each role is offered.

A link appears only when its page exists in this build and the user holds one of its roles; the
pages themselves still check access through ``services.access`` (hiding a link is not security).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, request, url_for
from flask_babel import lazy_gettext as _l

from services.db import transaction
from services.notifications import actions as notifications


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object
    roles: frozenset[str]
    also_current: tuple[str, ...] = ()  # endpoints of pages reached from this one


PRACTITIONERS = frozenset({"caseworker", "supervisor"})

ITEMS = (
    NavItem("referrals_web.my_queue", _l("My queue"), PRACTITIONERS),
    NavItem("referrals_web.new_referral", _l("File a referral"), frozenset({"caseworker"})),
    NavItem("cases_web.list_cases", _l("Cases"), PRACTITIONERS | {"oversight"}),
    NavItem("children_web.search", _l("Children"), PRACTITIONERS),
    NavItem("escalations_web.escalations_queue", _l("Escalations"), frozenset({"supervisor", "oversight"})),
    NavItem("supervisor.approvals", _l("Approvals"), frozenset({"supervisor"})),
    NavItem("supervisor.grants", _l("Emergency access reviews"), frozenset({"supervisor", "oversight"})),
    NavItem("reports.index", _l("Audit reports"), frozenset({"oversight", "supervisor"})),
    NavItem("statistics_web.statistics", _l("Statistics"), frozenset({"oversight", "council"})),
    NavItem("web.notifications.inbox", _l("Notifications"),
            PRACTITIONERS | {"oversight", "agency_admin", "system_admin"}),
    NavItem("admin.agency_users", _l("Users"), frozenset({"agency_admin"})),
    NavItem("admin.agencies", _l("Agencies"), frozenset({"system_admin"})),
    NavItem("admin.regions.own_calendar", _l("Calendar"), frozenset({"system_admin"}),
            ("admin.regions.calendar",)),
    NavItem("admin.regions.own_policy", _l("Deadline policy"), frozenset({"system_admin"}),
            ("admin.regions.deadline_policy",)),
    NavItem("admin.outbox.dead_letters", _l("Undelivered notifications"), frozenset({"system_admin"})),
)


def nav_items() -> list[dict]:
    """The links for the signed-in user, marking the one for the current page."""
    actor = g.get("actor")
    if actor is None or actor.kind != "user":
        return []
    links = []
    for item in ITEMS:
        if item.endpoint not in current_app.view_functions:
            continue
        if not item.roles.intersection(actor.roles):
            continue
        links.append({"url": url_for(item.endpoint), "label": item.label,
                      "current": request.endpoint in (item.endpoint, *item.also_current),
                      "unread": unread_count(actor) if item.endpoint == NOTIFICATIONS else None})
    return links


NOTIFICATIONS = "web.notifications.inbox"


def unread_count(actor) -> int:
    """How many of the user's notifications are unread, once per request (shows no content)."""
    if "nav_unread" not in g:
        with transaction(actor) as conn:
            g.nav_unread = notifications.unread_count(conn, actor=actor)
    return g.nav_unread

