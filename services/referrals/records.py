"""Referrals as plain data, and the pure rules of their states (DESIGN.md §2-§3).

State rules of a referral (one row per version):

- ``draft``: seen and changed by its author only; ``submitted`` when filed. A submitted referral is
  never edited (a trigger enforces it, migration 0005); a correction is a new version.
- Each receiving agency has a status: ``pending`` → ``accepted`` | ``screen_out_requested`` |
  ``redirected``; ``screen_out_requested`` → ``screened_out`` (a supervisor approves) or back to
  ``pending`` (rejected). A redirect adds the target agency as a new ``pending`` recipient.
- After the first decision or priority confirmation the referral is ``screening``; it is
  ``accepted`` as soon as one agency accepts; ``screened_out`` when no agency has accepted and none
  is still deciding (every one screened it out or redirected it away); ``redirected`` would mean
  every agency redirected it away with nobody left to decide, which a redirect to a Qorgau agency
  never leaves, so it is not reached today.
- Only the current version is screened: a decision names the version it was made on, and a
  superseded or different version is refused as stale.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from services.referrals.asq import PRIORITIES, Priority

Category = Literal["physical_abuse", "sexual_abuse", "neglect", "emotional_abuse",
                   "domestic_violence_witnessed", "bullying", "self_harm_or_suicide_risk",
                   "online_exploitation", "other"]
CATEGORIES: tuple[str, ...] = get_args(Category)
State = Literal["draft", "submitted", "screening", "accepted", "screened_out", "redirected"]
Decision = Literal["accept", "screen_out", "redirect"]

# Receiving agencies whose status says they are still deciding.
DECIDING = ("pending", "screen_out_requested")
# Agency kinds that never receive or lead: the prosecutor's office oversees (PRACTICE.md §6).
NOT_RECEIVING = ("prosecutor",)


@dataclass(frozen=True)
class Risk:
    """The referrer's risk indicators; ``asq`` holds the ASQ answers when the screen was done."""

    imminent_danger: bool
    significant_harm: bool
    harm_suspected: bool
    asq: dict | None


@dataclass(frozen=True)
class ChildRef:
    """A child a referral names: by id, proven by IIN or date of birth when not yet readable."""

    child_id: int
    iin: str | None = None
    date_of_birth: object = None


@dataclass(frozen=True)
class ReferralContent:
    """What the referrer says: everything a correction may change."""

    children: tuple[ChildRef, ...]
    categories: tuple[str, ...]
    observed_at: datetime
    observed_place: str | None
    observation: str
    risk: Risk
    requested_priority: Priority | None
    receiving_agency_ids: tuple[int, ...]
    referrer_contact: str | None


@dataclass(frozen=True)
class Recipient:
    agency_id: int
    status: str
    decided_at: datetime | None
    redirected_to: int | None
    decision_note: str | None


def state_after_decision(statuses: list[str]) -> str:
    """The referral's state from its receiving agencies' statuses (the rules above)."""
    if "accepted" in statuses:
        return "accepted"
    if any(s in DECIDING for s in statuses):
        return "screening"
    if "screened_out" in statuses:
        return "screened_out"
    return "redirected"


def referrer_status(state: str) -> str:
    """What the referrer is told after a decision: a status, never case content."""
    if state == "accepted":
        return "accepted"
    if state in ("screened_out", "redirected"):
        return "no_further_action"
    return "received"


def more_pressing(a: str, b: str) -> bool:
    """Is priority ``a`` more pressing than ``b``?"""
    return PRIORITIES.index(a) < PRIORITIES.index(b)
