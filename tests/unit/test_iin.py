"""IIN validation and generation (PRACTICE.md §6)."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.children.iin import IinInfo, InvalidIin, iin_check_digit, iter_iins, make_iin, validate_iin

ISSUABLE_DATES = st.dates(min_value=date(1800, 1, 1), max_value=date(2099, 12, 31))
SEXES = st.sampled_from(["M", "F"])
SERIALS = st.integers(min_value=0, max_value=9990)


def reason_of(iin: str, **kwargs) -> str:
    """The reason code validate_iin gives for refusing ``iin``."""
    with pytest.raises(InvalidIin) as excinfo:
        validate_iin(iin, **kwargs)
    return excinfo.value.reason


def test_practice_example_valid_on_the_first_pass_decodes_date_sex_and_serial():
    assert validate_iin("900101300007") == IinInfo(date_of_birth=date(1990, 1, 1), sex="M", serial=0)


def test_practice_example_valid_only_through_the_second_weight_pass():
    assert iin_check_digit("06121160001") == 2
    assert validate_iin("061211600012") == IinInfo(date_of_birth=date(2006, 12, 11), sex="F", serial=1)


def test_first_pass_check_digit_of_the_second_pass_example_would_be_ten():
    digits = [int(c) for c in "06121160001"]
    assert sum(d * w for d, w in zip(digits, range(1, 12))) % 11 == 10


def test_practice_never_issued_prefix_has_no_check_digit():
    assert iin_check_digit("05061530110") is None


@pytest.mark.parametrize("last", "0123456789")
def test_never_issued_prefix_is_refused_whatever_the_last_digit(last):
    assert reason_of("05061530110" + last) == "never_issued"


@pytest.mark.parametrize("wrong", [d for d in "0123456789" if d != "7"])
def test_wrong_check_digit_is_refused(wrong):
    assert reason_of("90010130000" + wrong) == "check_digit"


def test_second_pass_number_with_the_first_pass_digit_is_refused():
    # 87 mod 11 = 10 on the first pass, so "0" (10 truncated) or any digit but 2 is wrong.
    assert reason_of("061211600010") == "check_digit"


@pytest.mark.parametrize(
    "iin",
    ["99023030000", "99023130000", "00013230000", "00130130000", "00000030000", "99043130000"],
)
def test_impossible_dates_are_refused(iin):
    # Complete the check digit so only the date can be at fault.
    check = iin_check_digit(iin)
    assert check is not None
    assert reason_of(iin + str(check)) == "date"


def test_february_29_depends_on_the_century_digit():
    assert validate_iin(make_iin(date(2000, 2, 29), "M")).date_of_birth == date(2000, 2, 29)
    first11 = "0002293" + "0000"  # 1900 was not a leap year
    check = iin_check_digit(first11)
    assert check is not None
    assert reason_of(first11 + str(check)) == "date"


@pytest.mark.parametrize("digit", ["0", "7", "8", "9"])
def test_century_digit_outside_one_to_six_is_refused(digit):
    first11 = "900101" + digit + "0000"
    check = iin_check_digit(first11)
    iin = first11 + str(check if check is not None else 0)
    assert reason_of(iin) == "century_digit"


@pytest.mark.parametrize(
    ("digit", "year", "sex"),
    [
        ("1", 1890, "M"), ("2", 1890, "F"), ("3", 1990, "M"),
        ("4", 1990, "F"), ("5", 2090, "M"), ("6", 2090, "F"),
    ],
)
def test_century_digit_gives_century_and_sex(digit, year, sex):
    iin = make_iin(date(year, 5, 17), sex)
    assert iin[6] == digit
    info = validate_iin(iin)
    assert (info.date_of_birth.year, info.sex) == (year, sex)


@pytest.mark.parametrize(
    "iin",
    ["90010130000", "9001013000071", "", "90010130000 7", " 900101300007"],
)
def test_wrong_length_is_refused(iin):
    assert reason_of(iin) == "length"


@pytest.mark.parametrize(
    "iin",
    ["90010130000a", "9001-1300007", "900101 00007", "９００１０１３０００07", "٩٠٠١٠١٣٠٠٠٠٧", "+90101300007"],
)
def test_non_digits_are_refused(iin):
    assert len(iin) == 12
    assert reason_of(iin) == "not_digits"


def test_a_number_instead_of_a_string_is_refused():
    assert reason_of(900101300007) == "not_digits"  # type: ignore[arg-type]


def test_matching_date_of_birth_and_sex_are_accepted():
    info = validate_iin("900101300007", date_of_birth=date(1990, 1, 1), sex="M")
    assert info.serial == 0


def test_different_date_of_birth_is_refused_naming_both_dates():
    with pytest.raises(InvalidIin) as excinfo:
        validate_iin("900101300007", date_of_birth=date(1990, 1, 2))
    assert excinfo.value.reason == "date_of_birth_mismatch"
    assert excinfo.value.field == "iin"
    assert "1990-01-01" in str(excinfo.value) and "1990-01-02" in str(excinfo.value)


def test_same_day_in_another_century_is_a_date_of_birth_mismatch():
    assert reason_of("061211600012", date_of_birth=date(1906, 12, 11)) == "date_of_birth_mismatch"


def test_different_sex_is_refused():
    assert reason_of("900101300007", sex="F") == "sex_mismatch"
    assert reason_of("061211600012", sex="M") == "sex_mismatch"


def test_unknown_sex_value_is_refused_on_the_sex_field():
    with pytest.raises(InvalidIin) as excinfo:
        validate_iin("900101300007", sex="male")
    assert (excinfo.value.field, excinfo.value.reason) == ("sex", "sex_unknown")


def test_date_of_birth_after_today_is_refused_when_today_is_given():
    iin = make_iin(date(2030, 1, 1), "F")
    assert validate_iin(iin).date_of_birth == date(2030, 1, 1)
    assert reason_of(iin, today=date(2026, 3, 1)) == "date_in_future"
    assert validate_iin(iin, today=date(2030, 1, 1)).date_of_birth == date(2030, 1, 1)


def test_invalid_iin_is_a_value_error_with_a_human_message():
    with pytest.raises(ValueError, match="12 digits"):
        validate_iin("123")


def test_check_digit_needs_eleven_ascii_digits():
    with pytest.raises(ValueError):
        iin_check_digit("9001013000")
    with pytest.raises(ValueError):
        iin_check_digit("9001013000a")


def test_make_iin_skips_a_never_issued_serial():
    assert iin_check_digit("05061530110") is None
    iin = make_iin(date(1905, 6, 15), "M", 110)
    assert iin.startswith("0506153011")
    assert validate_iin(iin).serial == 111


def test_make_iin_refuses_dates_outside_the_iin_centuries_and_unknown_sex():
    with pytest.raises(ValueError):
        make_iin(date(1799, 12, 31), "M")
    with pytest.raises(ValueError):
        make_iin(date(2100, 1, 1), "F")
    with pytest.raises(ValueError):
        make_iin(date(2010, 1, 1), "X")
    with pytest.raises(ValueError):
        make_iin(date(2010, 1, 1), "M", 10000)
    with pytest.raises(ValueError):
        iter_iins(date(1799, 1, 1), "M")


def test_make_iin_refuses_when_no_issuable_serial_is_left():
    assert iin_check_digit("10031869999") is None
    with pytest.raises(ValueError, match="no issuable"):
        make_iin(date(2010, 3, 18), "F", 9999)


def test_iter_iins_yields_distinct_valid_numbers_skipping_never_issued_serials():
    iins = list(iter_iins(date(1905, 6, 15), "M"))
    assert len(iins) == len(set(iins))
    assert "05061530110" not in {i[:11] for i in iins}
    assert "05061530111" in {i[:11] for i in iins}
    assert 9800 < len(iins) < 10000
    assert all(validate_iin(i).date_of_birth == date(1905, 6, 15) for i in iins[:50])


@settings(max_examples=500)
@given(dob=ISSUABLE_DATES, sex=SEXES, serial=SERIALS)
def test_make_iin_always_validates_with_its_date_and_sex(dob, sex, serial):
    iin = make_iin(dob, sex, serial)
    info = validate_iin(iin, date_of_birth=dob, sex=sex)
    assert serial <= info.serial <= serial + 9


@settings(max_examples=300)
@given(dob=ISSUABLE_DATES, sex=SEXES, serial=SERIALS, position=st.integers(0, 11), delta=st.integers(1, 9))
def test_changing_one_digit_is_never_accepted_as_the_same_child(dob, sex, serial, position, delta):
    iin = make_iin(dob, sex, serial)
    original = validate_iin(iin)
    changed = iin[:position] + str((int(iin[position]) + delta) % 10) + iin[position + 1 :]
    try:
        other = validate_iin(changed)
    except InvalidIin:
        return
    assert other != original


@settings(max_examples=300)
@given(dob=ISSUABLE_DATES, sex=SEXES, serial=SERIALS, delta=st.integers(1, 9))
def test_changing_the_check_digit_is_always_refused(dob, sex, serial, delta):
    iin = make_iin(dob, sex, serial)
    changed = iin[:11] + str((int(iin[11]) + delta) % 10)
    with pytest.raises(InvalidIin):
        validate_iin(changed)


def test_check_digit_does_not_catch_most_typos_in_the_eleventh_digit():
    # Weight 11 is 0 mod 11, so on the first pass digit 11 does not affect the check digit: a
    # typo there usually yields another valid IIN of a different child. Duplicate detection by
    # name and date of birth (names.py) is what catches such typos.
    iin = "900101300007"
    accepted = [iin[:10] + d + iin[11] for d in "123456789"]
    valid = []
    for candidate in accepted:
        try:
            valid.append(validate_iin(candidate))
        except InvalidIin:
            pass
    assert len(valid) == 9
    assert all(info.serial != 0 for info in valid)
