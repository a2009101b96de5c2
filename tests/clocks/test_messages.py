"""Every outbox topic Qorgau writes has a notification title in Kazakh, Russian and English."""
from __future__ import annotations

import re
from pathlib import Path

from services.notifications import messages

ROOT = Path(__file__).resolve().parents[2]
# enqueue(conn, "topic", ...) with the topic written out; the sweep's topics come from a table.
ENQUEUED = re.compile(r"""enqueue\(\s*conn,\s*["']([a-z_.]+)["']""")


def enqueued_topics() -> set[str]:
    found = set()
    for path in (ROOT / "services").rglob("*.py"):
        found |= set(ENQUEUED.findall(path.read_text()))
    return found


def test_every_enqueued_topic_has_a_title_in_each_language():
    topics = enqueued_topics()
    assert {"referral.received", "referral.status_changed", "approval.requested",
            "case.instruction_issued", "case.instruction_answered"} <= topics
    missing = {t for t in topics if t not in messages.TITLES}
    assert missing == set()
    for topic in topics:
        assert set(messages.TITLES[topic]) == set(messages.LANGUAGES), topic
        assert all(text.strip() for text in messages.TITLES[topic].values()), topic


def test_the_sweep_topics_have_titles_too():
    for topic in ("clock.reminder", "escalation.raised", "escalation.repeated"):
        assert set(messages.TITLES[topic]) == set(messages.LANGUAGES)


def test_a_referral_notice_is_titled_in_the_recipients_language():
    assert messages.title("referral.received", "kk", {}) == "Ұйымыңызға жаңа хабарлама түсті"
    assert messages.title("referral.received", "ru", {}).startswith("В вашу организацию")
    assert messages.title("approval.requested", "en", {}) == "A decision is waiting for your approval"


def test_every_subject_a_notification_can_name_reads_in_each_language():
    from services.clocks.records import SUBJECT_TYPES
    from services.notifications.delivery import REF_SUBJECTS

    kinds = set(SUBJECT_TYPES) | {kind for _, kind in REF_SUBJECTS}
    assert {"approval", "grant"} <= kinds
    for kind in kinds:
        assert set(messages.SUBJECTS[kind]) == set(messages.LANGUAGES), kind
        for lang in messages.LANGUAGES:
            assert "7" in messages.subject_label(kind, 7, lang), (kind, lang)
