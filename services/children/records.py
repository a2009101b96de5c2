"""Children as plain data (DESIGN.md §2: one record shared by every agency)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

# PRACTICE.md §7: the whole of Kazakhstan is on UTC+5, so "today" for a date of birth is that day.
KZ_TIME = timezone(timedelta(hours=5))
# Law "On the Rights of the Child" (PRACTICE.md §6): a child is a person under 18.
CHILD_AGE_LIMIT = 18

# Why a child's record is opened: a code stored with the audit event, never free text.
PURPOSES = ("case_work", "screening", "referral", "assessment", "oversight_review")


@dataclass(frozen=True)
class Candidate:
    """A possibly identical child found by the duplicate lookup: identity fields only."""

    id: int
    iin: str | None
    last_name: str
    first_name: str
    date_of_birth: date
    sex: str | None


@dataclass(frozen=True)
class ChildDetails:
    """What a caseworker enters to record a child."""

    iin: str | None
    last_name: str
    first_name: str
    patronymic: str | None
    date_of_birth: date
    sex: str | None
    school_agency_id: int | None
    district_id: int | None


@dataclass(frozen=True)
class Child(ChildDetails):
    """A recorded child."""

    id: int
    region_id: int
    created_at: datetime


@dataclass(frozen=True)
class Duplicates:
    """Recording was refused: these children probably are the one being recorded."""

    candidates: tuple[Candidate, ...]
    same_iin: bool


@dataclass(frozen=True)
class SearchResult:
    """Readable matches, and the ids of matching children the caller cannot read (yet)."""

    items: tuple[Child, ...]
    existing_child_ids: tuple[int, ...]


def child_from_row(row: dict) -> Child:
    """A ``Child`` from a full ``children`` row (as ``access.access_child`` returns it)."""
    return Child(**{name: row[name] for name in Child.__dataclass_fields__})


def today() -> date:
    return datetime.now(KZ_TIME).date()


def is_child_on(date_of_birth: date, day: date) -> bool:
    """Under 18 on ``day``."""
    try:
        eighteenth = date_of_birth.replace(year=date_of_birth.year + CHILD_AGE_LIMIT)
    except ValueError:  # born on 29 February
        eighteenth = date(date_of_birth.year + CHILD_AGE_LIMIT, 3, 1)
    return day < eighteenth


def child_json(child: Child) -> dict:
    return {
        "id": child.id, "iin": child.iin, "last_name": child.last_name,
        "first_name": child.first_name, "patronymic": child.patronymic,
        "date_of_birth": child.date_of_birth.isoformat(), "sex": child.sex,
        "school_agency_id": child.school_agency_id, "district_id": child.district_id,
        "region_id": child.region_id, "created_at": child.created_at.isoformat(),
    }


def candidate_json(c: Candidate) -> dict:
    return {"id": c.id, "last_name": c.last_name, "first_name": c.first_name,
            "date_of_birth": c.date_of_birth.isoformat()}
