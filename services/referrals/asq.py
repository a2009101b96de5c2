"""Ask Suicide-Screening Questions (ASQ, NIMH) scoring and the referral's response priority."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

Answer = Literal["yes", "no", "refused"]
AsqOutcome = Literal["negative", "non_acute_positive", "acute_positive"]
Priority = Literal["immediate", "urgent", "standard", "low"]

ANSWERS: tuple[str, ...] = get_args(Answer)
PRIORITIES: tuple[str, ...] = get_args(Priority)  # most to least pressing
_QUESTIONS = ("q1", "q2", "q3", "q4", "q5")


class InvalidScreen(ValueError):
    """A screen answer that is missing, unknown or inconsistent, naming its field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class AsqAnswers:
    """The answers to ASQ questions 1-4 and, after any yes or refusal, question 5."""

    q1: Answer
    q2: Answer
    q3: Answer
    q4: Answer
    q5: Answer | None = None

    def __post_init__(self) -> None:
        for name in _QUESTIONS[:4]:
            _check_answer(name, getattr(self, name))
        # PRACTICE.md §3: Q5 (thoughts of killing yourself right now) is asked only after a yes or
        # a refusal on Q1-4, and then it must be answered to tell acute from non-acute risk.
        if self.screened_in:
            if self.q5 is None:
                raise InvalidScreen(
                    "asq.q5", "Question 5 is required after a yes or a refusal on questions 1-4."
                )
            _check_answer("q5", self.q5)
        elif self.q5 is not None:
            _check_answer("q5", self.q5)
            # A "no" here changes nothing and is ignored. A yes or refusal contradicts "no" to Q3
            # (thoughts of killing yourself in the past week), so the screener must re-ask rather
            # than have the system silently pick one answer.
            if self.q5 != "no":
                raise InvalidScreen(
                    "asq.q5",
                    "Question 5 is asked only after a yes or a refusal on questions 1-4; "
                    "with all four answered no, re-ask questions 1-4.",
                )
            object.__setattr__(self, "q5", None)

    @property
    def screened_in(self) -> bool:
        """True when any of questions 1-4 was answered yes or refused."""
        return any(getattr(self, name) != "no" for name in _QUESTIONS[:4])

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> AsqAnswers:
        """Answers from request data, refusing unknown or missing questions by field."""
        for key in data:
            if key not in _QUESTIONS:
                raise InvalidScreen(f"asq.{key}", f"Unknown ASQ field {key!r}; expected q1-q5.")
        for name in _QUESTIONS[:4]:
            if data.get(name) is None:
                raise InvalidScreen(f"asq.{name}", f"Question {name[1]} of the ASQ must be answered.")
        return cls(**data)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AsqResult:
    """The outcome of an ASQ screen and the response priority it requires, if any."""

    result: AsqOutcome

    @property
    def positive(self) -> bool:
        """True for both acute and non-acute positive screens."""
        return self.result != "negative"

    @property
    def priority_floor(self) -> Priority | None:
        """The lowest response priority this screen allows, or None when it sets no floor."""
        return _ASQ_PRIORITY_FLOOR[self.result]


# DESIGN.md §3 puts acute suicide risk in `immediate`. A non-acute positive screen needs a brief
# suicide safety assessment by a trained clinician before the child leaves (PRACTICE.md §3), so it
# is at least `urgent` (significant harm suspected), never a routine `standard` concern.
_ASQ_PRIORITY_FLOOR: dict[str, Priority | None] = {
    "negative": None,
    "non_acute_positive": "urgent",
    "acute_positive": "immediate",
}


def score_asq(answers: AsqAnswers) -> AsqResult:
    """Score an ASQ screen: negative, non-acute positive, or acute positive."""
    # PRACTICE.md §3 (NIMH ASQ toolkit): any yes or refusal on Q1-4 is positive; yes on Q5 is acute.
    if not answers.screened_in:
        return AsqResult("negative")
    # NIMH does not say what a refusal on Q5 means. A child who will not say whether they are
    # thinking of killing themselves right now is treated as at imminent risk until a clinician
    # assesses them, as a refusal on Q1-4 is treated as positive.
    if answers.q5 in ("yes", "refused"):
        return AsqResult("acute_positive")
    return AsqResult("non_acute_positive")


def priority_from_indicators(
    asq_result: AsqResult | None,
    *,
    imminent_danger: bool,
    significant_harm: bool,
    harm_suspected: bool,
) -> Priority:
    """The referral's response priority: the most pressing one any indicator calls for."""
    # DESIGN.md §3 table: immediate = imminent danger or acute suicide risk; urgent = significant
    # harm suspected; standard = a concern needing assessment; low = a support need, no harm
    # suspected. PRACTICE.md §3 gives the ASQ meaning of "acute".
    candidates: list[Priority] = ["low"]
    if harm_suspected:
        candidates.append("standard")
    if significant_harm:
        candidates.append("urgent")
    if imminent_danger:
        candidates.append("immediate")
    if asq_result is not None and asq_result.priority_floor is not None:
        candidates.append(asq_result.priority_floor)
    return min(candidates, key=PRIORITIES.index)


def _check_answer(name: str, value: object) -> None:
    if value not in ANSWERS:
        raise InvalidScreen(
            f"asq.{name}", f"Question {name[1]} of the ASQ is answered yes, no or refused."
        )
