"""What other parts of Qorgau do when a referral moves: clocks start and stop, notifications go to
the outbox. Each hook runs inside the transaction of the change that calls it, so its effects
commit or roll back with that change (DESIGN.md §6). They take ids only.

The clocks and the outbox (issue 5) are wired here and nowhere else in the referrals package.
"""
from __future__ import annotations

from audit import Actor


def on_referral_submitted(conn, referral_id: int, *, actor: Actor) -> None:
    """Start each receiving agency's screening clock (DESIGN.md §3) and notify those agencies."""


def on_referral_corrected(conn, old_id: int, new_id: int, *, actor: Actor) -> None:
    """Carry the running clocks of ``old_id`` over to its correction ``new_id``."""


def on_screening_decision(conn, referral_id: int, agency_id: int, decision: str, *, actor: Actor) -> None:
    """An agency decided (accept, screen_out, redirect): stop its screening clock."""


def on_redirected(conn, referral_id: int, to_agency_id: int, *, actor: Actor) -> None:
    """A new receiving agency: start its screening clock and notify it."""


def on_priority_changed(conn, referral_id: int, priority: str, *, actor: Actor) -> None:
    """The screening and first-contact clocks follow the new priority."""


def on_case_opened(conn, case_id: int, referral_id: int, *, actor: Actor) -> None:
    """Start the first-contact clock, and a strategy meeting's for immediate or urgent cases."""


def on_assessment_created(conn, assessment_id: int, *, actor: Actor) -> None:
    """Start the assessment's clock: 10 working days from acceptance (DESIGN.md §3)."""


def on_referrer_update(conn, update_id: int, *, actor: Actor) -> None:
    """Tell the referring agency the new status (status only, never case content)."""


def on_approval_requested(conn, approval_id: int, *, actor: Actor) -> None:
    """Put the request on the agency supervisors' queue, inside the original window."""
