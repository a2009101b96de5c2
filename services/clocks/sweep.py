"""The sweep: take every due ladder step, once, however many sweeps run at the same time.

Beat runs it every 30 seconds (``workflows/clocks.py``). Each batch is one transaction that locks
its due clocks with ``FOR UPDATE SKIP LOCKED``, so two sweeps never hold the same clock; after a
batch commits, its clocks' ``next_action_at`` lies in the future, so a later sweep does not see
them again until their next step. The unique keys of ``clock_steps`` and ``escalations`` are the
second guard: a step whose row already exists is not taken again (issue 5 item 3).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import audit
from audit import Actor, AuditAction
from services import clock as clock_source
from services import outbox
from services.clocks import ladder, queries, recipients
from services.clocks.records import Clock

log = logging.getLogger("qorgau.clocks")
SYSTEM = Actor.system("clocks")
BATCH = 200
# If a clock's next step were somehow not in the future, wait this long instead of re-reading it
# in the same sweep forever.
MIN_PAUSE = timedelta(seconds=30)


@dataclass
class SweepResult:
    clocks: int = 0
    steps: int = 0


def sweep(db, *, now: datetime | None = None, batch: int = BATCH) -> SweepResult:
    """Walk every due clock along its ladder, a batch per transaction, until none is due."""
    now = now or clock_source.now()
    result = SweepResult()
    while True:
        with db.transaction(SYSTEM) as conn:
            clocks, steps = sweep_batch(conn, now, batch)
        result.clocks += clocks
        result.steps += steps
        if clocks < batch:
            return result


def sweep_batch(conn, now: datetime, limit: int) -> tuple[int, int]:
    """One batch in the caller's transaction: (clocks looked at, steps taken)."""
    rows = queries.due(conn, now, limit)
    taken = 0
    people: dict = {}
    for row in rows:
        every = row.pop("unacknowledged_repeat")
        taken += walk_clock(conn, Clock(**row), every, now, people)
    return len(rows), taken


def walk_clock(conn, clock: Clock, every: timedelta, now: datetime, people: dict | None = None) -> int:
    """Take the clock's due steps and move its ``next_action_at``; the number of steps taken."""
    before = ladder.LadderState(clock.reminded_at is not None, clock.escalation_level,
                                clock.escalation_state, clock.repeats)
    steps, after = ladder.walk(clock.schedule(), before, every, now)
    taken = sum(1 for step in steps if take_step(conn, clock, step, now, people))
    next_at = ladder.next_action_at(clock.schedule(), after, every)
    if next_at is not None and next_at <= now:
        log.warning("clock %s: next step %s is not in the future", clock.id, next_at.isoformat())
        next_at = now + MIN_PAUSE
    reminded_at = clock.reminded_at or (now if after.reminded else None)
    queries.save_ladder(conn, clock.id, reminded_at=reminded_at, level=after.level,
                        state=after.state, repeats=after.repeats, next_action_at=next_at)
    return taken


def take_step(conn, clock: Clock, step: ladder.Step, now: datetime, people: dict | None = None) -> bool:
    """Take one step: record it, notify, audit. False if it had been taken already."""
    escalation_id = None
    if step.name == "level_1":
        escalation_id = queries.raise_escalation(conn, clock, cause=step.cause, at=now)
    elif step.name != "reminder":
        escalation = queries.round_escalation(conn, clock.id, clock.round)
        escalation_id = escalation.id
        if step.name != "repeat":
            queries.climb(conn, escalation_id, step.level, now)
    users = recipients.for_level(conn, clock, step.level, people)
    step_id = queries.record_step(conn, clock_id=clock.id, round=clock.round, step=step.name,
                                  repeat_no=step.repeat_no, scheduled_at=step.scheduled_at,
                                  done_at=now, escalation_id=escalation_id, recipient_ids=users)
    if step_id is None:
        return False
    topic = {"reminder": "clock.reminder", "repeat": "escalation.repeated"}.get(
        step.name, "escalation.raised")
    outbox_id = outbox.enqueue(conn, topic, clock_id=clock.id, escalation_id=escalation_id,
                               level=step.level, repeat_no=step.repeat_no, user_ids=users)
    queries.link_step_outbox(conn, step_id, outbox_id)
    action = {"reminder": AuditAction.CLOCK_REMINDER_SENT,
              "repeat": AuditAction.ESCALATION_REPEATED}.get(step.name, AuditAction.ESCALATION_RAISED)
    audit.record(conn, actor=SYSTEM, action=action,
                 object_type="escalation" if escalation_id else "clock",
                 object_id=escalation_id or clock.id, child_id=clock.child_id,
                 details={"clock_id": clock.id, "step": step.name, "level": step.level,
                          "repeat_no": step.repeat_no, "round": clock.round,
                          "scheduled_at": step.scheduled_at.isoformat(),
                          "recipient_count": len(users), "outbox_id": outbox_id})
    return True
