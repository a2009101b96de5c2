"""The escalation ladder as pure functions: when each step is due, and which steps are due now.

DESIGN.md §3: at 75% of the time a reminder to the assignee; at 100% level 1 to the assignee's
supervisor; 1 working day later level 2 to the agency head; 3 working days after that level 3 to
oversight. An ``immediate`` referral not acknowledged within 15 minutes goes straight to level 1
and the alert repeats every 15 minutes until someone acknowledges it. The percentages and delays
are the clock's policy version's (``deadline_policies``), so a region can change them as data.

"1 working day later … 3 working days later" is read as a chain: level 3 comes three working days
after level 2, not after the breach. A person resolving the escalation stops the climb; changing
the due time starts a new round of the ladder.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services import calendar
from services.calendar import Calendar
from services.clocks.records import (UNACKNOWLEDGED_KIND, UNACKNOWLEDGED_PRIORITY, WORKING_UNITS,
                                     Policy, Rule, Schedule)


def deadline(start: datetime, amount: int, unit: str, cal: Calendar) -> datetime:
    """``start`` plus a rule's amount: hours run around the clock, working units do not."""
    if unit == "minutes":
        return start + timedelta(minutes=amount)
    if unit == "hours":
        return start + timedelta(hours=amount)
    if unit == "working_hours":
        return calendar.add_working_hours(start, amount, cal)
    if unit == "working_days":
        return calendar.add_working_days(start, amount, cal)
    if unit == "months":
        return calendar.add_months(start, amount, cal)
    raise ValueError(f"unknown unit {unit!r}")


def fraction_point(start: datetime, due: datetime, percent: int, unit: str, cal: Calendar) -> datetime:
    """The instant ``percent`` of the way from start to due, in the clock's own kind of time.

    A working-day clock's 75% is 75% of its working time: a reminder at 22:00 on a Sunday would
    reach nobody.
    """
    if unit in WORKING_UNITS:
        total = calendar.working_time_between(start, due, cal)
        return calendar.add_working_time(start, total * percent / 100, cal)
    return start + (due - start) * percent / 100


def schedule(policy: Policy, start: datetime, due: datetime, unit: str, cal: Calendar, *,
             watch_acknowledgement: bool = False) -> Schedule:
    """Every instant of one round of the ladder for a clock running from ``start`` to ``due``."""
    level_2 = calendar.add_working_days(due, policy.level_2_after_wd, cal)
    unacknowledged = start + policy.unacknowledged_after if watch_acknowledgement else None
    return Schedule(
        due_at=due,
        reminder_at=fraction_point(start, due, policy.reminder_percent, unit, cal),
        level_2_at=level_2,
        level_3_at=calendar.add_working_days(level_2, policy.level_3_after_wd, cal),
        unacknowledged_at=unacknowledged,
    )


def plan(policy: Policy, rule: Rule, start: datetime, cal: Calendar, *, kind: str,
         priority: str) -> Schedule:
    """The schedule of a clock starting at ``start`` under ``rule``."""
    due = deadline(start, rule.amount, rule.unit, cal)
    watch = kind == UNACKNOWLEDGED_KIND and priority == UNACKNOWLEDGED_PRIORITY
    return schedule(policy, start, due, rule.unit, cal, watch_acknowledgement=watch)


@dataclass(frozen=True)
class LadderState:
    """Where a clock is on its ladder (columns of ``clocks``)."""

    reminded: bool = False
    level: int = 0
    # none: not escalated; open: escalated, nobody has acknowledged; acknowledged: someone has
    # (the 15-minute repeat stops for good); resolved: a person closed it (the climb stops).
    state: str = "none"
    repeats: int = 0


@dataclass(frozen=True)
class Step:
    """One ladder step to take: ``reminder``, ``level_1``..``level_3`` or ``repeat``."""

    name: str
    scheduled_at: datetime
    level: int
    repeat_no: int = 0
    cause: str | None = None


def _repeats_due(sched: Schedule, every: timedelta, now: datetime) -> int:
    if sched.unacknowledged_at is None or now < sched.unacknowledged_at:
        return 0
    return int((now - sched.unacknowledged_at) / every)


def walk(sched: Schedule, state: LadderState, every: timedelta, now: datetime
         ) -> tuple[list[Step], LadderState]:
    """The steps due at ``now`` in order, and the state after taking them."""
    steps: list[Step] = []
    level, status, repeats = state.level, state.state, state.repeats
    reminder_due = not state.reminded and level == 0 and sched.reminder_at <= now
    raised_now = False
    if level < 1:
        if sched.unacknowledged_at is not None and sched.unacknowledged_at <= now:
            steps.append(Step("level_1", sched.unacknowledged_at, 1, cause="not_acknowledged"))
        elif sched.due_at <= now:
            steps.append(Step("level_1", sched.due_at, 1, cause="deadline_breached"))
        if steps:
            level, status, raised_now = 1, "open", True
    if status != "resolved" and level >= 1:
        if level < 2 and sched.level_2_at <= now:
            steps.append(Step("level_2", sched.level_2_at, 2))
            level = 2
        if level < 3 and sched.level_3_at <= now:
            steps.append(Step("level_3", sched.level_3_at, 3))
            level = 3
    if sched.unacknowledged_at is not None and status == "open":
        due = _repeats_due(sched, every, now)
        if due > repeats and not raised_now:
            steps.append(Step("repeat", sched.unacknowledged_at + every * due, level, repeat_no=due))
        repeats = max(repeats, due)
    # A reminder that comes due together with an escalation is overtaken by it: the assignee
    # hears through the escalation, and a stale reminder would only add noise.
    if reminder_due and not steps:
        steps.insert(0, Step("reminder", sched.reminder_at, 0))
    reminded = state.reminded or reminder_due
    return steps, LadderState(reminded, level, status, repeats)


def next_action_at(sched: Schedule, state: LadderState, every: timedelta) -> datetime | None:
    """When the sweep should next look at the clock (None: no step is left)."""
    candidates = []
    if not state.reminded and state.level == 0:
        candidates.append(sched.reminder_at)
    if state.level < 1:
        candidates.append(sched.unacknowledged_at or sched.due_at)
    if state.state != "resolved":
        if state.level < 2:
            candidates.append(sched.level_2_at)
        if state.level < 3:
            candidates.append(sched.level_3_at)
    if sched.unacknowledged_at is not None and state.state == "open":
        candidates.append(sched.unacknowledged_at + every * (state.repeats + 1))
    return min(candidates) if candidates else None


def acknowledged(state: LadderState) -> LadderState:
    """The state after someone acknowledges the escalation."""
    return replace(state, state="acknowledged") if state.state == "open" else state
