"""Kazakhstan individual identification number (IIN, ИИН): validation and generation."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Literal

Sex = Literal["M", "F"]

# PRACTICE.md §6: check-digit weights, first pass and the second pass used when the first gives 10.
_FIRST_WEIGHTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
# Weight 11 is 0 mod 11, so the first pass ignores digit 11: a typo in the last serial digit
# usually gives another valid IIN. Name and date-of-birth matching (names.py) covers that gap.

# PRACTICE.md §6: digit 7 gives the century of birth and the sex (odd male, even female).
_CENTURY_BY_DIGIT = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000}
_DIGIT_BY_CENTURY_AND_SEX = {
    (1800, "M"): 1, (1800, "F"): 2, (1900, "M"): 3, (1900, "F"): 4, (2000, "M"): 5, (2000, "F"): 6,
}


class InvalidIin(ValueError):
    """An IIN that is malformed, inconsistent with the child's record, or never issued."""

    def __init__(self, reason: str, message: str, *, field: str = "iin") -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class IinInfo:
    """What an IIN encodes: the date of birth, the sex and the four-digit serial."""

    date_of_birth: date
    sex: Sex
    serial: int


def iin_check_digit(first11: str) -> int | None:
    """The check digit for the first eleven digits, or None if such a number is never issued."""
    if len(first11) != 11 or not (first11.isascii() and first11.isdigit()):
        raise ValueError("an IIN check digit needs exactly 11 digits")
    digits = [int(c) for c in first11]
    k = sum(d * w for d, w in zip(digits, _FIRST_WEIGHTS)) % 11
    if k == 10:
        k = sum(d * w for d, w in zip(digits, _SECOND_WEIGHTS)) % 11
    # PRACTICE.md §6: a second 10 means no IIN is ever issued with these eleven digits.
    return None if k == 10 else k


def validate_iin(
    iin: str,
    *,
    date_of_birth: date | None = None,
    sex: str | None = None,
    today: date | None = None,
) -> IinInfo:
    """Decode a valid IIN, raising InvalidIin naming the first rule it breaks."""
    # The format is strict: no spaces, separators or non-ASCII digits; forms trim before calling.
    if not isinstance(iin, str):
        raise InvalidIin("not_digits", "An IIN must be written as a string of digits.")
    if len(iin) != 12:
        raise InvalidIin("length", f"An IIN has exactly 12 digits; this one has {len(iin)} characters.")
    if not (iin.isascii() and iin.isdigit()):
        raise InvalidIin("not_digits", "An IIN must contain digits 0-9 only.")
    century_digit = int(iin[6])
    if century_digit not in _CENTURY_BY_DIGIT:
        raise InvalidIin(
            "century_digit",
            f"The 7th digit of an IIN gives the century and sex and must be 1-6, not {century_digit}.",
        )
    encoded_sex: Sex = "M" if century_digit % 2 else "F"
    encoded_dob = _decode_date(iin[:6], _CENTURY_BY_DIGIT[century_digit])
    if today is not None and encoded_dob > today:
        raise InvalidIin(
            "date_in_future", f"The IIN gives a date of birth in the future ({encoded_dob.isoformat()})."
        )
    check = iin_check_digit(iin[:11])
    if check is None:
        raise InvalidIin(
            "never_issued", "No IIN is ever issued with these first 11 digits; check the number."
        )
    if check != int(iin[11]):
        raise InvalidIin("check_digit", "The IIN's check digit does not match; check the number for a typo.")
    if date_of_birth is not None and date_of_birth != encoded_dob:
        raise InvalidIin(
            "date_of_birth_mismatch",
            f"The IIN gives the date of birth {encoded_dob.isoformat()}, "
            f"but the date of birth entered is {date_of_birth.isoformat()}.",
        )
    if sex is not None:
        if sex not in ("M", "F"):
            raise InvalidIin(
                "sex_unknown", "Sex must be 'M' or 'F' to be checked against the IIN.", field="sex"
            )
        if sex != encoded_sex:
            raise InvalidIin(
                "sex_mismatch", f"The IIN gives the sex {encoded_sex}, but the sex entered is {sex}."
            )
    return IinInfo(date_of_birth=encoded_dob, sex=encoded_sex, serial=int(iin[7:11]))


def make_iin(date_of_birth: date, sex: str, serial: int = 0) -> str:
    """A valid IIN for the date and sex, using the first issuable serial at or after ``serial``."""
    # Roughly 1 serial in 120 is never issued (PRACTICE.md §6), so two neighbouring serials can give
    # the same IIN here; generators that need distinct numbers should use iter_iins.
    for iin in iter_iins(date_of_birth, sex, start=serial):
        return iin
    raise ValueError(f"no issuable IIN serial at or after {serial}")


def iter_iins(date_of_birth: date, sex: str, *, start: int = 0) -> Iterator[str]:
    """Every distinct valid IIN for the date and sex, in serial order from ``start``."""
    prefix = _prefix(date_of_birth, sex)
    if not 0 <= start <= 9999:
        raise ValueError("an IIN serial is 0-9999")
    return _issuable(prefix, start)


def _issuable(prefix: str, start: int) -> Iterator[str]:
    for serial in range(start, 10000):
        first11 = f"{prefix}{serial:04d}"
        check = iin_check_digit(first11)
        if check is not None:
            yield f"{first11}{check}"


def _prefix(date_of_birth: date, sex: str) -> str:
    century = date_of_birth.year // 100 * 100
    digit = _DIGIT_BY_CENTURY_AND_SEX.get((century, sex))
    if digit is None:
        raise ValueError("an IIN covers sex 'M'/'F' and births in 1800-2099")
    return f"{date_of_birth:%y%m%d}{digit}"


def _decode_date(yymmdd: str, century: int) -> date:
    try:
        return date(century + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6]))
    except ValueError:
        raise InvalidIin(
            "date", f"The first 6 digits of an IIN are the date of birth YYMMDD; {yymmdd} is not a real date."
        ) from None
