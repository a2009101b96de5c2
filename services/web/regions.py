"""The system admin's region pages: the working calendar (holidays and moved days as data, working
hours) and the deadline policy (priority → durations, a new version per change, the history).

Every read and change is ``services.clocks.admin``'s, after ``services.access.require_system_admin``,
exactly as the API (``services/clocks/admin_views.py``) does it.
"""
from __future__ import annotations

from datetime import date, time

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from audit import AuditAction
from services import access
from services import clock as clock_source
from services.auth.current import login_required
from services.calendar import KINDS as DAY_KINDS
from services.clocks import admin
from services.clocks import deadline_queries
from services.clocks.records import KINDS as CLOCK_KINDS, PRIORITIES, UNITS, Rule
from services.db import transaction
from services.errors import QorgauError
from services.web.forms import FormErrors, choice, from_error, integer, required

bp = Blueprint("regions", __name__, url_prefix="/regions")

RULE_PRIORITIES = PRIORITIES + ("any",)
YEARS = admin.YEARS  # the calendar years the pages show; admin.put_day refuses a day outside them
# The ladder's settings with the bounds the API accepts (services/clocks/admin_views.py LadderIn).
LADDER = {"reminder_percent": (1, 99), "level_2_after_wd": (0, 60), "level_3_after_wd": (0, 60),
          "unacknowledged_after_minutes": (1, 1440), "unacknowledged_repeat_minutes": (1, 1440)}


def _own_region_code(actor) -> str | None:
    with transaction(actor) as conn:
        region = deadline_queries.region(conn, actor.region_id) if actor.region_id else None
    return region["code"] if region else None


def _start(endpoint: str, attempted: AuditAction):
    """The system admin starts from their own region's page."""
    actor = access.require_system_admin(g.actor, attempted, "region")
    code = _own_region_code(actor)
    if code is None:
        return render_template("admin/no_region.html"), 404
    return redirect(url_for(endpoint, code=code))


# --- the calendar ------------------------------------------------------------------------------

@bp.get("/calendar")
@login_required
def own_calendar():
    return _start("admin.regions.calendar", AuditAction.CALENDAR_VIEWED)


def _calendar_page(code: str, *, errors: FormErrors | None = None, form_name: str | None = None):
    actor = access.require_system_admin(g.actor, AuditAction.CALENDAR_VIEWED, "region", code)
    year = request.values.get("year", "")  # a refused form keeps the year it was sent from
    year = int(year) if year.isdigit() and YEARS[0] <= int(year) <= YEARS[1] else clock_source.now().year
    with transaction(actor) as conn:
        view = admin.view_calendar(conn, actor=actor, region_code=code, year=year)
    status = errors.status if errors else 200
    return render_template("admin/calendar.html", view=view, year=year, kinds=DAY_KINDS,
                           errors=errors or FormErrors(), form_name=form_name,
                           form=request.form if errors else {}), status


@bp.get("/<code>/calendar")
@login_required
def calendar(code: str):
    return _calendar_page(code)


def _calendar_change(code: str, form_name: str, run, success: str, errors: FormErrors,
                     year: int | None = None):
    """Run ``run(conn, actor)`` in one transaction; a refusal re-renders the page with messages.

    Success returns to the calendar of ``year`` (the changed day's), else of the page's year.
    """
    actor = access.require_system_admin(g.actor, AuditAction.CALENDAR_CHANGED, "region", code)
    if not errors:
        try:
            with transaction(actor) as conn:
                run(conn, actor)
        except QorgauError as exc:
            if exc.status == 404 and form_name != "remove":
                raise
            errors = from_error(exc, {"kind": _("A weekday is already a working day: choose "
                                               "another kind, or a weekend day."),
                                      "day_end": _("The working day must end after it starts."),
                                      "day": _("Enter a date between %(first)s and %(last)s.",
                                               first=f"{YEARS[0]}-01-01", last=f"{YEARS[1]}-12-31"),
                                      "remove": _("The region has no entry of its own on that "
                                                  "day.")}, form_name)
        else:
            flash(success)
            return redirect(url_for("admin.regions.calendar", code=code,
                                    year=year or request.form.get("year") or None))
    return _calendar_page(code, errors=errors, form_name=form_name)


def _day(errors: FormErrors, field: str = "day") -> date | None:
    raw = required(request.form, errors, field)
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        errors.add(field, _("Enter a date such as 2026-03-21."))
        return None


@bp.post("/<code>/calendar/days")
@login_required
def put_day(code: str):
    errors = FormErrors()
    day = _day(errors)
    kind = choice(request.form, errors, "kind", DAY_KINDS, _("Choose the kind of day."))
    name = required(request.form, errors, "name")
    if len(name) > 200:
        errors.add("name", _("Keep it under 200 characters."))
    source = (request.form.get("source") or "").strip() or None
    if source and len(source) > 300:
        errors.add("source", _("Keep it under 300 characters."))
    return _calendar_change(code, "day", lambda conn, actor: admin.put_day(
        conn, actor=actor, region_code=code, day=day, kind=kind, name=name, source=source),
        _("The calendar is saved."), errors, year=day.year if day else None)


@bp.post("/<code>/calendar/days/remove")
@login_required
def delete_day(code: str):
    errors = FormErrors()
    day = _day(errors)
    return _calendar_change(code, "remove", lambda conn, actor: admin.delete_day(
        conn, actor=actor, region_code=code, day=day),
        _("The region's own entry is removed; the national calendar applies on that day."), errors)


def _time(errors: FormErrors, field: str) -> time | None:
    raw = required(request.form, errors, field)
    try:
        value = time.fromisoformat(raw) if raw else None
    except ValueError:
        value = None
    if raw and (value is None or value.tzinfo is not None):
        errors.add(field, _("Enter a time such as 09:00."))
        return None
    return value


@bp.post("/<code>/working-hours")
@login_required
def working_hours(code: str):
    errors = FormErrors()
    start, end = _time(errors, "day_start"), _time(errors, "day_end")
    return _calendar_change(code, "hours", lambda conn, actor: admin.set_hours(
        conn, actor=actor, region_code=code, day_start=start, day_end=end),
        _("The working hours are saved."), errors)


# --- the deadline policy -----------------------------------------------------------------------

@bp.get("/deadline-policy")
@login_required
def own_policy():
    return _start("admin.regions.deadline_policy", AuditAction.DEADLINE_POLICY_VIEWED)


def _policy_page(code: str, *, errors: FormErrors | None = None, form_name: str | None = None):
    actor = access.require_system_admin(g.actor, AuditAction.DEADLINE_POLICY_VIEWED, "region", code)
    with transaction(actor) as conn:
        policy, versions = admin.view_policy(conn, actor=actor, region_code=code)
    by_kind: dict[str, dict[str, Rule]] = {}
    for rule in policy.rules:
        by_kind.setdefault(rule.clock_kind, {})[rule.priority] = rule
    kinds = list(CLOCK_KINDS) + sorted(k for k in by_kind if k not in CLOCK_KINDS)
    status = errors.status if errors else 200
    return render_template("admin/deadline_policy.html", code=code, policy=policy,
                           versions=versions, by_kind=by_kind, kinds=kinds,
                           priorities=RULE_PRIORITIES, units=UNITS, errors=errors or FormErrors(),
                           form_name=form_name, form=request.form if errors else {},
                           ladder={"reminder_percent": policy.reminder_percent,
                                   "level_2_after_wd": policy.level_2_after_wd,
                                   "level_3_after_wd": policy.level_3_after_wd,
                                   "unacknowledged_after_minutes":
                                       int(policy.unacknowledged_after.total_seconds() // 60),
                                   "unacknowledged_repeat_minutes":
                                       int(policy.unacknowledged_repeat.total_seconds() // 60)}), status


@bp.get("/<code>/deadline-policy")
@login_required
def deadline_policy(code: str):
    return _policy_page(code)


def _save(code: str, form_name: str, errors: FormErrors, **changes):
    """Save a new policy version with ``changes``; a refusal re-renders with the field named."""
    actor = access.require_system_admin(g.actor, AuditAction.DEADLINE_POLICY_CHANGED, "region", code)
    reason = required(request.form, errors, "reason", _("Say why the policy changes."))
    if len(reason) > 1000:
        errors.add("reason", _("Keep it under 1,000 characters."))
    if not errors:
        try:
            with transaction(actor) as conn:
                saved = admin.save_policy(conn, actor=actor, region_code=code, reason=reason,
                                          **changes)
        except QorgauError as exc:
            if exc.status == 404:
                raise
            errors = _policy_errors(exc, form_name, changes)
        else:
            flash(_("Version %(version)s of the deadline policy is saved; running clocks keep "
                    "the version they started under.", version=saved.version))
            return redirect(url_for("admin.regions.deadline_policy", code=code))
    return _policy_page(code, errors=errors, form_name=form_name)


def _policy_errors(exc: QorgauError, form_name: str, changes: dict) -> FormErrors:
    """The action's refusal with the form's field names ("rules.amount" is "amount") and words."""
    unit = next((r.unit for r in changes.get("rules", ())), None)
    removal = {"no_such_rule": _("There is no rule for this deadline and priority to remove."),
               "no_fallback": _("Without this rule a deadline of this kind could not start: set "
                                "a rule for any other priority first.")}
    messages = {"remove": removal.get(exc.extra.get("reason"), exc.detail),"reason": _("Say why the policy changes."),
                "rules.amount": _("At most %(max)s for this unit.",
                                  max=admin.MAX_AMOUNT.get(unit, 1)),
                "rules.unit": _("Choose one of the options offered."),
                "rules.priority": _("Choose one of the options offered."),
                "ladder.reminder_percent": _("Give 1 to 99 per cent."),
                "ladder.unacknowledged_repeat": _("Give 1 to 1440 minutes.")}
    found = from_error(exc, messages, form_name)
    errors = FormErrors()
    errors.status = found.status
    for field, message in found.items():
        field = "priority" if field == "remove" else field.split(".", 1)[-1]
        errors.add(field + "_minutes" if field.startswith("unacknowledged") else field, message)
    return errors


@bp.post("/<code>/deadline-policy/rules")
@login_required
def save_rule(code: str):
    """Set one rule (kind × priority → amount and unit), or remove it, as a new version."""
    form = request.form
    errors = FormErrors()
    kind = choice(form, errors, "clock_kind", CLOCK_KINDS, _("Choose what the deadline is for."))
    priority = choice(form, errors, "priority", RULE_PRIORITIES)
    if "remove" in form:
        return _save(code, "rule", errors, remove=[(kind, priority)])
    amount = integer(form, errors, "amount")
    unit = choice(form, errors, "unit", UNITS)
    return _save(code, "rule", errors, rules=[Rule(kind, priority, amount or 0, unit)])


@bp.post("/<code>/deadline-policy/ladder")
@login_required
def save_ladder(code: str):
    """Change the escalation ladder's settings as a new version."""
    errors = FormErrors()
    values = {}
    for name, (low, high) in LADDER.items():
        values[name] = integer(request.form, errors, name, minimum=0)
        if values[name] is not None and not low <= values[name] <= high:
            errors.add(name, _("Give %(low)s to %(high)s.", low=low, high=high))
    ladder = {"reminder_percent": values["reminder_percent"],
              "level_2_after_wd": values["level_2_after_wd"],
              "level_3_after_wd": values["level_3_after_wd"],
              "unacknowledged_after": values["unacknowledged_after_minutes"],
              "unacknowledged_repeat": values["unacknowledged_repeat_minutes"]}
    return _save(code, "ladder", errors, ladder=ladder)
