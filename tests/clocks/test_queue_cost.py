"""The escalation queue costs a fixed number of statements, however many escalations it lists:
the owners' headships are read once, not once per escalation (bench/RESULTS.md)."""
from __future__ import annotations

from bench.scenarios import sent_statements as statements
from services import clock
from tests.clocks.conftest import api, local, start, sweep_at

T0 = local(2026, 4, 10, 16)  # Friday 16:00; an urgent screening clock is due Monday 16:00
ESCALATED = local(2026, 4, 13, 16)


def _queue(client_api) -> tuple[list[dict], int]:
    """The items listed and the statements sent for them (the token's own, which note its use
    at most once a minute, left out)."""
    with statements() as sent:
        res = client_api.get("/api/v1/escalations")
    assert res.status_code == 200, res.get_json()
    return res.get_json()["items"], sum(1 for text, _ in sent if "api_tokens" not in text)


def test_the_queue_sends_as_many_statements_for_four_escalations_as_for_one(client, fresh_cw, db, ctx):
    cw = fresh_cw
    owners = {name: api(client, cw, name) for name in ("supervisor", "head", "oversight", "worker")}
    first = start(cw, kind="screening_decision", priority="urgent", at=T0)
    sweep_at(db, ESCALATED)
    clock.set_now(local(2026, 4, 13, 16, 30))
    one = {name: _queue(a) for name, a in owners.items()}
    more = [start(cw, kind="screening_decision", priority="urgent", at=T0, assignee=None) for _ in range(3)]
    sweep_at(db, ESCALATED)
    four = {name: _queue(a) for name, a in owners.items()}

    assert [e["clock_id"] for e in one["supervisor"][0]] == [first]
    assert {e["clock_id"] for e in four["supervisor"][0]} == {first, *more}
    assert {e["clock_id"] for e in four["head"][0]} == {first, *more}
    assert {e["clock_id"] for e in four["oversight"][0]} == {first, *more}
    # The assigned worker sees their own escalation and the agency's unassigned ones.
    assert {e["clock_id"] for e in four["worker"][0]} == {first, *more}
    assert {name: n for name, (_, n) in four.items()} == {name: n for name, (_, n) in one.items()}
