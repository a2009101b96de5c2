"""How the domain's codes read on a page, in the reader's language."""
from __future__ import annotations

from datetime import datetime

from flask_babel import format_date, format_datetime, gettext, ngettext
from flask_babel import lazy_gettext as _l

ROLES = {
    "caseworker": _l("Caseworker"),
    "supervisor": _l("Supervisor"),
    "oversight": _l("Oversight (prosecutor)"),
    "council": _l("Coordination council"),
    "agency_admin": _l("Agency administrator"),
    "system_admin": _l("System administrator"),
}

AGENCY_KINDS = {
    "school": _l("School"),
    "social_services": _l("Social services"),
    "police": _l("Police juvenile unit"),
    "health": _l("Health"),
    "psychology": _l("Psychological support centre"),
    "prosecutor": _l("Prosecutor's office"),
    "ngo": _l("NGO"),
}

LANGUAGES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}

PRIORITIES = {
    "immediate": _l("Immediate"),
    "urgent": _l("Urgent"),
    "standard": _l("Standard"),
    "low": _l("Low"),
}

CATEGORIES = {
    "physical_abuse": _l("Physical abuse"),
    "sexual_abuse": _l("Sexual abuse"),
    "neglect": _l("Neglect"),
    "emotional_abuse": _l("Emotional abuse"),
    "domestic_violence_witnessed": _l("Domestic violence witnessed"),
    "bullying": _l("Bullying"),
    "self_harm_or_suicide_risk": _l("Self-harm or suicide risk"),
    "online_exploitation": _l("Online exploitation"),
    "other": _l("Other"),
}

REFERRAL_STATES = {
    "draft": _l("Draft"),
    "submitted": _l("Submitted"),
    "screening": _l("Screening"),
    "accepted": _l("Accepted"),
    "screened_out": _l("Screened out"),
    "redirected": _l("Redirected"),
}

RECIPIENT_STATUSES = {
    "pending": _l("Awaiting screening"),
    "accepted": _l("Accepted"),
    "screened_out": _l("Screened out"),
    "redirected": _l("Redirected"),
    "screen_out_requested": _l("Screen-out awaiting approval"),
}

CASE_STATES = {
    "open": _l("Open"),
    "assessment": _l("Assessment"),
    "planning": _l("Planning"),
    "monitoring": _l("Monitoring"),
    "closed": _l("Closed"),
}

ENTRY_KINDS = {
    "note": _l("Note"),
    "contact": _l("Contact"),
    "assessment_result": _l("Assessment result"),
    "meeting": _l("Meeting"),
    "decision": _l("Decision"),
    "instruction": _l("Instruction"),
    "review": _l("Case review"),
    "instruction_response": _l("Answer to an instruction"),
}

VISIBILITIES = {
    "all_participants": _l("All participating agencies"),
    "own_agency": _l("My agency only"),
    "restricted": _l("Restricted"),
}

ASSESSMENT_KINDS = {
    "psychological": _l("Psychological"),
    "legal": _l("Legal"),
    "social": _l("Social"),
}

ASSESSMENT_STATES = {
    "assigned": _l("Assigned"),
    "completed": _l("Completed"),
    "skip_requested": _l("Skip awaiting approval"),
    "skipped": _l("Skipped"),
}

APPROVAL_KINDS = {
    "screen_out": _l("Screen-out"),
    "downgrade": _l("Priority downgrade"),
    "closure": _l("Case closure"),
    "skip_assessment": _l("Skipped assessment"),
}

ASQ_QUESTIONS = {
    "q1": _l("In the past few weeks, have you wished you were dead?"),
    "q2": _l("In the past few weeks, have you felt that you or your family would be better off if you were dead?"),
    "q3": _l("In the past week, have you been having thoughts about killing yourself?"),
    "q4": _l("Have you ever tried to kill yourself?"),
    "q5": _l("Are you having thoughts of killing yourself right now?"),
}

CLOCK_KINDS = {
    "acknowledgement": _l("Acknowledge the referral"),
    "screening_decision": _l("Screening decision"),
    "first_contact": _l("First contact with the child"),
    "assessment": _l("Assessment"),
    "whole_assessment": _l("Whole assessment"),
    "strategy_meeting": _l("Strategy meeting"),
    "first_review": _l("First case review"),
    "review": _l("Case review"),
    "referrer_feedback": _l("Feedback to the referrer"),
    "instruction": _l("Instruction from oversight"),
    "disagreement_stage_1": _l("Disagreement, stage 1"),
    "disagreement_stage_2": _l("Disagreement, stage 2"),
    "disagreement_stage_3": _l("Disagreement, stage 3"),
}

ASSESSMENT_OUTCOMES = {
    "no_further_action": _l("No further action"),
    "support_needed": _l("Support needed"),
    "protection_needed": _l("Protection needed"),
    "inconclusive": _l("Inconclusive"),
}

CALENDAR_DAY_KINDS = {
    "holiday": _l("Public holiday"),
    "religious": _l("Religious day off"),
    "day_off": _l("Moved day off"),
    "working_day": _l("Moved working day"),
    "carry_over": _l("Day off carried over"),
}

CALENDAR_ORIGINS = {
    "national": _l("National"),
    "region": _l("This region"),
    "derived": _l("Carried over"),
}

DURATION_UNITS = {
    "minutes": _l("minutes"),
    "hours": _l("hours"),
    "working_hours": _l("working hours"),
    "working_days": _l("working days"),
    "months": _l("months"),
}

RULE_PRIORITIES = {**PRIORITIES, "any": _l("Any other priority")}

DISAGREEMENT_DECISIONS = {
    "screening": _l("Screening decision"),
    "priority": _l("Priority"),
    "lead_agency": _l("Choice of lead agency"),
    "assessment_outcome": _l("Assessment outcome"),
    "case_plan": _l("Case plan"),
    "case_closure": _l("Closing the case"),
    "other_decision": _l("Another decision"),
}

ASQ_ANSWERS = {"yes": _l("Yes"), "no": _l("No"), "refused": _l("Refused to answer")}


def label(table: dict, code) -> str:
    """The label of ``code`` in ``table``, or the code itself when it has none."""
    if code is None:
        return ""
    return str(table.get(code, code))


def init_filters(app) -> None:
    tables = {"role": ROLES, "agency_kind": AGENCY_KINDS, "priority": PRIORITIES,
              "category": CATEGORIES, "referral_state": REFERRAL_STATES,
              "recipient_status": RECIPIENT_STATUSES, "case_state": CASE_STATES,
              "entry_kind": ENTRY_KINDS, "visibility": VISIBILITIES,
              "assessment_kind": ASSESSMENT_KINDS, "assessment_state": ASSESSMENT_STATES,
              "approval_kind": APPROVAL_KINDS, "asq_answer": ASQ_ANSWERS, "asq_question": ASQ_QUESTIONS,
              "clock_kind": CLOCK_KINDS, "assessment_outcome": ASSESSMENT_OUTCOMES,
              "day_kind": CALENDAR_DAY_KINDS, "day_origin": CALENDAR_ORIGINS,
              "unit": DURATION_UNITS, "rule_priority": RULE_PRIORITIES,
              "decision": DISAGREEMENT_DECISIONS}
    for name, table in tables.items():
        app.add_template_filter(lambda code, t=table: label(t, code), name)
    app.add_template_filter(when, "when")
    app.add_template_filter(lambda d: format_date(d, "EEE, d MMM y") if d else "", "day")
    app.add_template_filter(time_left, "time_left")
    app.add_template_filter(duration, "duration")


# A time on a page reads the same in kk, ru and en and cannot be misread: 2026-11-26 14:05. (The
# locales' short formats differ, and English's "11/26/26" reads as 11 February elsewhere.)
WHEN_FORMAT = "yyyy-MM-dd HH:mm"


def when(value) -> str:
    """A stored UTC time in the display zone (the region's, ``QORGAU_TIMEZONE``) as 2026-11-26 14:05."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):  # the API's documents carry ISO 8601 strings
        value = datetime.fromisoformat(value)
    return format_datetime(value, WHEN_FORMAT)


def time_left(value) -> str:
    """A ``timedelta`` until a deadline as "3 h 05 min left" or "overdue by 20 min"."""
    if value is None:
        return ""
    negative = value.total_seconds() < 0
    minutes = int(abs(value.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        text = gettext("%(days)s d %(hours)s h", days=days, hours=hours)
    elif hours:
        text = gettext("%(hours)s h %(minutes)s min", hours=hours, minutes=f"{mins:02d}")
    else:
        text = gettext("%(minutes)s min", minutes=mins)
    return gettext("overdue by %(time)s", time=text) if negative else gettext("%(time)s left", time=text)


def duration(amount: int, unit: str) -> str:
    """A rule's duration, "1 working day" or "3 working days", in the reader's language."""
    forms = {
        "minutes": lambda n: ngettext("%(num)s minute", "%(num)s minutes", n),
        "hours": lambda n: ngettext("%(num)s hour", "%(num)s hours", n),
        "working_hours": lambda n: ngettext("%(num)s working hour", "%(num)s working hours", n),
        "working_days": lambda n: ngettext("%(num)s working day", "%(num)s working days", n),
        "months": lambda n: ngettext("%(num)s month", "%(num)s months", n),
    }
    return forms[unit](amount) if unit in forms else f"{amount} {unit}"
