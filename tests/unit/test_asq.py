"""ASQ scoring (PRACTICE.md §3) and response priority (DESIGN.md §3)."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.referrals.asq import (
    PRIORITIES,
    AsqAnswers,
    AsqResult,
    InvalidScreen,
    priority_from_indicators,
    score_asq,
)

ANSWER = st.sampled_from(["yes", "no", "refused"])
NEGATIVE = AsqResult("negative")
NON_ACUTE = AsqResult("non_acute_positive")
ACUTE = AsqResult("acute_positive")


def field_of_error(**answers) -> str:
    """The field InvalidScreen names when AsqAnswers refuses ``answers``."""
    with pytest.raises(InvalidScreen) as excinfo:
        AsqAnswers(**answers)
    return excinfo.value.field


def no_harm(asq=None, **overrides) -> str:
    """priority_from_indicators with every indicator false unless overridden."""
    flags = {"imminent_danger": False, "significant_harm": False, "harm_suspected": False, **overrides}
    return priority_from_indicators(asq, **flags)


def test_all_no_is_negative_without_question_5():
    result = score_asq(AsqAnswers("no", "no", "no", "no"))
    assert result.result == "negative"
    assert not result.positive
    assert result.priority_floor is None


@pytest.mark.parametrize("question", ["q1", "q2", "q3", "q4"])
@pytest.mark.parametrize("answer", ["yes", "refused"])
def test_yes_or_refusal_on_any_of_questions_1_to_4_then_no_on_5_is_non_acute(question, answer):
    answers = {"q1": "no", "q2": "no", "q3": "no", "q4": "no", question: answer, "q5": "no"}
    result = score_asq(AsqAnswers(**answers))
    assert result.result == "non_acute_positive"
    assert result.positive


@pytest.mark.parametrize("question", ["q1", "q2", "q3", "q4"])
def test_yes_on_question_5_after_a_positive_is_acute_and_immediate(question):
    answers = {"q1": "no", "q2": "no", "q3": "no", "q4": "no", question: "yes", "q5": "yes"}
    result = score_asq(AsqAnswers(**answers))
    assert result.result == "acute_positive"
    assert result.priority_floor == "immediate"


def test_refusal_on_question_5_is_treated_as_acute():
    assert score_asq(AsqAnswers("yes", "no", "no", "no", q5="refused")).result == "acute_positive"


def test_every_answer_combination_scores_by_the_asq_rules():
    for q1, q2, q3, q4 in itertools.product(["yes", "no", "refused"], repeat=4):
        if (q1, q2, q3, q4) == ("no", "no", "no", "no"):
            assert score_asq(AsqAnswers(q1, q2, q3, q4)).result == "negative"
            continue
        assert score_asq(AsqAnswers(q1, q2, q3, q4, q5="no")).result == "non_acute_positive"
        assert score_asq(AsqAnswers(q1, q2, q3, q4, q5="yes")).result == "acute_positive"


def test_question_5_is_required_after_a_positive_answer():
    assert field_of_error(q1="no", q2="yes", q3="no", q4="no") == "asq.q5"


def test_question_5_no_after_all_no_is_ignored():
    answers = AsqAnswers("no", "no", "no", "no", q5="no")
    assert answers.q5 is None
    assert score_asq(answers).result == "negative"


@pytest.mark.parametrize("q5", ["yes", "refused"])
def test_question_5_yes_or_refused_after_all_no_is_refused_as_contradictory(q5):
    with pytest.raises(InvalidScreen, match="re-ask") as excinfo:
        AsqAnswers("no", "no", "no", "no", q5=q5)
    assert excinfo.value.field == "asq.q5"


@pytest.mark.parametrize("question", ["q1", "q2", "q3", "q4"])
@pytest.mark.parametrize("bad", ["Yes", "y", "", "unknown", True, None])
def test_unknown_answer_names_its_question(question, bad):
    answers = {"q1": "no", "q2": "no", "q3": "no", "q4": "no", question: bad}
    assert field_of_error(**answers) == f"asq.{question}"


def test_unknown_answer_to_question_5_names_it():
    assert field_of_error(q1="yes", q2="no", q3="no", q4="no", q5="maybe") == "asq.q5"
    assert field_of_error(q1="no", q2="no", q3="no", q4="no", q5="maybe") == "asq.q5"


def test_invalid_screen_is_a_value_error_with_a_message():
    with pytest.raises(ValueError, match="Question 5 is required"):
        AsqAnswers("refused", "no", "no", "no")


def test_from_mapping_builds_answers():
    answers = AsqAnswers.from_mapping({"q1": "yes", "q2": "no", "q3": "no", "q4": "no", "q5": "yes"})
    assert score_asq(answers).result == "acute_positive"


def test_from_mapping_refuses_unknown_fields_by_name():
    with pytest.raises(InvalidScreen) as excinfo:
        AsqAnswers.from_mapping({"q1": "no", "q2": "no", "q3": "no", "q4": "no", "q6": "no"})
    assert excinfo.value.field == "asq.q6"


def test_from_mapping_names_the_first_missing_question():
    with pytest.raises(InvalidScreen) as excinfo:
        AsqAnswers.from_mapping({"q1": "no", "q2": "no", "q4": "no"})
    assert excinfo.value.field == "asq.q3"


def test_answers_are_immutable():
    answers = AsqAnswers("no", "no", "no", "no")
    with pytest.raises(AttributeError):
        answers.q1 = "yes"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, "low"),
        ({"harm_suspected": True}, "standard"),
        ({"significant_harm": True}, "urgent"),
        ({"significant_harm": True, "harm_suspected": True}, "urgent"),
        ({"imminent_danger": True}, "immediate"),
        ({"imminent_danger": True, "significant_harm": True, "harm_suspected": True}, "immediate"),
    ],
)
def test_priority_follows_the_design_table(flags, expected):
    assert no_harm(**flags) == expected


def test_acute_positive_screen_is_immediate_even_with_no_other_indicator():
    assert no_harm(ACUTE) == "immediate"


def test_non_acute_positive_screen_is_at_least_urgent():
    assert no_harm(NON_ACUTE) == "urgent"
    assert no_harm(NON_ACUTE, harm_suspected=True) == "urgent"
    assert no_harm(NON_ACUTE, imminent_danger=True) == "immediate"


def test_negative_screen_does_not_lower_or_raise_the_priority():
    assert no_harm(NEGATIVE) == "low"
    assert no_harm(NEGATIVE, significant_harm=True) == "urgent"


@given(
    answers=st.tuples(ANSWER, ANSWER, ANSWER, ANSWER, ANSWER),
    imminent=st.booleans(),
    significant=st.booleans(),
    suspected=st.booleans(),
)
def test_adding_an_indicator_never_lowers_the_priority(answers, imminent, significant, suspected):
    *first_four, q5 = answers
    screened_in = any(a != "no" for a in first_four)
    result = score_asq(AsqAnswers(*first_four, q5=q5 if screened_in else None))
    flags = {"imminent_danger": imminent, "significant_harm": significant, "harm_suspected": suspected}
    base = PRIORITIES.index(priority_from_indicators(None, **flags))
    with_screen = PRIORITIES.index(priority_from_indicators(result, **flags))
    assert with_screen <= base
    for name in flags:
        raised = PRIORITIES.index(priority_from_indicators(result, **{**flags, name: True}))
        assert raised <= with_screen
