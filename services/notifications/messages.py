"""What a notification says, in Kazakh, Russian and English (PRACTICE.md §6: kk and ru at least).

An e-mail leaves Qorgau's control, so it names no child and tells no story: what kind of deadline,
the record's number, when it is due, and a link to sign in. The in-app list uses the same titles.
"""
from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from services.notifications.records import Notice

LANGUAGES = ("kk", "ru", "en")

TITLES = {
    "clock.reminder": {
        "en": "Reminder: a deadline is approaching",
        "ru": "Напоминание: приближается срок",
        "kk": "Еске салу: мерзім жақындап қалды",
    },
    "escalation.raised": {
        "en": "Escalation, level {level}: a deadline has passed",
        "ru": "Эскалация, уровень {level}: срок истёк",
        "kk": "Эскалация, {level}-деңгей: мерзім өтіп кетті",
    },
    "escalation.repeated": {
        "en": "Immediate referral not yet acknowledged (alert {repeat_no})",
        "ru": "Экстренное обращение ещё не подтверждено (оповещение {repeat_no})",
        "kk": "Шұғыл хабарлама әлі расталмаған ({repeat_no}-ескерту)",
    },
    "escalation.reassigned": {
        "en": "Overdue work has been assigned to you",
        "ru": "Вам передана просроченная работа",
        "kk": "Сізге мерзімі өткен жұмыс тапсырылды",
    },
    "clock.due_changed": {
        "en": "A deadline has changed",
        "ru": "Срок изменён",
        "kk": "Мерзім өзгертілді",
    },
    "disagreement.raised": {
        "en": "A professional disagreement has been raised",
        "ru": "Заявлено профессиональное разногласие",
        "kk": "Кәсіби келіспеушілік білдірілді",
    },
    "disagreement.advanced": {
        "en": "A professional disagreement has moved to stage {stage}",
        "ru": "Профессиональное разногласие передано на этап {stage}",
        "kk": "Кәсіби келіспеушілік {stage}-кезеңге өтті",
    },
    "disagreement.resolved": {
        "en": "A professional disagreement has been resolved",
        "ru": "Профессиональное разногласие урегулировано",
        "kk": "Кәсіби келіспеушілік шешілді",
    },
    "case.instruction_issued": {
        "en": "The prosecutor has issued an instruction",
        "ru": "Прокурор дал указание",
        "kk": "Прокурор нұсқау берді",
    },
    "case.instruction_answered": {
        "en": "Your instruction has been answered",
        "ru": "На ваше указание дан ответ",
        "kk": "Сіздің нұсқауыңызға жауап берілді",
    },
    "referral.received": {
        "en": "A new referral has been sent to your agency",
        "ru": "В вашу организацию поступило новое обращение",
        "kk": "Ұйымыңызға жаңа хабарлама түсті",
    },
    "referral.status_changed": {
        "en": "The status of your referral has changed",
        "ru": "Статус вашего обращения изменился",
        "kk": "Хабарламаңыздың мәртебесі өзгерді",
    },
    "referral.filed_in_your_name": {
        "en": "Your agency's system filed a referral in your name",
        "ru": "Система вашей организации подала обращение от вашего имени",
        "kk": "Ұйымыңыздың жүйесі сіздің атыңыздан хабарлама берді",
    },
    "approval.requested": {
        "en": "A decision is waiting for your approval",
        "ru": "Решение ожидает вашего утверждения",
        "kk": "Шешім сіздің бекітуіңізді күтуде",
    },
    "grants.emergency_access_granted": {
        "en": "Emergency access to a child's record was opened",
        "ru": "Открыт экстренный доступ к карточке ребёнка",
        "kk": "Бала картасына шұғыл қолжетімділік ашылды",
    },
    "default": {
        "en": "New in Qorgau",
        "ru": "Новое в Qorgau",
        "kk": "Qorgau жүйесінде жаңа хабарлама",
    },
}

CLOCK_KINDS = {
    "acknowledgement": {"en": "Acknowledgement of an immediate referral",
                        "ru": "Подтверждение получения экстренного обращения",
                        "kk": "Шұғыл хабарламаның алынғанын растау"},
    "screening_decision": {"en": "Screening decision", "ru": "Решение по первичной оценке",
                           "kk": "Бастапқы бағалау бойынша шешім"},
    "first_contact": {"en": "First contact with the child", "ru": "Первый контакт с ребёнком",
                      "kk": "Баламен алғашқы байланыс"},
    "assessment": {"en": "Assessment", "ru": "Оценка", "kk": "Бағалау"},
    "whole_assessment": {"en": "Completion of the whole assessment",
                         "ru": "Завершение комплексной оценки", "kk": "Кешенді бағалауды аяқтау"},
    "strategy_meeting": {"en": "Strategy meeting", "ru": "Стратегическое совещание",
                         "kk": "Стратегиялық кеңес"},
    "first_review": {"en": "First case review", "ru": "Первый пересмотр дела",
                     "kk": "Істі алғашқы қайта қарау"},
    "review": {"en": "Case review", "ru": "Пересмотр дела", "kk": "Істі қайта қарау"},
    "referrer_feedback": {"en": "Feedback to the referrer", "ru": "Ответ направившему специалисту",
                          "kk": "Хабарлаған маманға жауап"},
    "instruction": {"en": "Prosecutor's instruction", "ru": "Указание прокурора",
                    "kk": "Прокурордың нұсқауы"},
    "disagreement_stage_1": {"en": "Professional disagreement, stage 1",
                             "ru": "Профессиональное разногласие, этап 1",
                             "kk": "Кәсіби келіспеушілік, 1-кезең"},
    "disagreement_stage_2": {"en": "Professional disagreement, stage 2",
                             "ru": "Профессиональное разногласие, этап 2",
                             "kk": "Кәсіби келіспеушілік, 2-кезең"},
    "disagreement_stage_3": {"en": "Professional disagreement, stage 3",
                             "ru": "Профессиональное разногласие, этап 3",
                             "kk": "Кәсіби келіспеушілік, 3-кезең"},
}

SUBJECTS = {
    "referral": {"en": "referral no. {id}", "ru": "обращение № {id}", "kk": "№ {id} хабарлама"},
    "case": {"en": "case no. {id}", "ru": "дело № {id}", "kk": "№ {id} іс"},
    "assessment": {"en": "assessment no. {id}", "ru": "оценка № {id}", "kk": "№ {id} бағалау"},
    "instruction": {"en": "instruction no. {id}", "ru": "указание № {id}", "kk": "№ {id} нұсқау"},
    "meeting": {"en": "meeting no. {id}", "ru": "встреча № {id}", "kk": "№ {id} кездесу"},
    "disagreement": {"en": "disagreement no. {id}", "ru": "разногласие № {id}",
                     "kk": "№ {id} келіспеушілік"},
    "feedback": {"en": "feedback no. {id}", "ru": "ответ № {id}", "kk": "№ {id} жауап"},
    "approval": {"en": "approval request no. {id}", "ru": "запрос на утверждение № {id}",
                 "kk": "№ {id} бекіту сұрауы"},
    "grant": {"en": "emergency access no. {id}", "ru": "экстренный доступ № {id}",
              "kk": "№ {id} шұғыл қолжетімділік"},
}

LABELS = {
    "what": {"en": "What", "ru": "Что", "kk": "Не"},
    "concerning": {"en": "Concerning", "ru": "Предмет", "kk": "Нысан"},
    "due": {"en": "Due", "ru": "Срок", "kk": "Мерзімі"},
    "open": {"en": "Open in Qorgau", "ru": "Открыть в Qorgau", "kk": "Qorgau жүйесінде ашу"},
    "footer": {"en": "This message carries no case details. Sign in to Qorgau to see them.",
               "ru": "В письме нет сведений о деле. Войдите в Qorgau, чтобы их увидеть.",
               "kk": "Бұл хатта іс туралы мәліметтер жоқ. Оларды көру үшін Qorgau жүйесіне "
                     "кіріңіз."},
}


def language(code: str | None) -> str:
    return code if code in LANGUAGES else "ru"


def title(kind: str, lang: str, refs: dict) -> str:
    """The notification's one-line title in ``lang``."""
    text = TITLES.get(kind, TITLES["default"])[language(lang)]
    return text.format(level=refs.get("level", ""), repeat_no=refs.get("repeat_no", ""),
                       stage=refs.get("stage", ""))


def subject_label(subject_type: str | None, subject_id: int | None, lang: str) -> str | None:
    if subject_type not in SUBJECTS or subject_id is None:
        return None
    return SUBJECTS[subject_type][language(lang)].format(id=subject_id)


def local_time(at: datetime, tz: str) -> str:
    """A due time as the region reads it: 13.03.2026 16:00 (Asia/Aqtau)."""
    return f"{at.astimezone(ZoneInfo(tz)):%d.%m.%Y %H:%M} ({tz})"


def body(notice: Notice, lang: str, url: str) -> str:
    """The plain-text e-mail body: title, what, concerning, due, link, footer."""
    lang = language(lang)
    lines = [title(notice.kind, lang, notice.refs), ""]
    if notice.clock_kind in CLOCK_KINDS:
        lines.append(f"{LABELS['what'][lang]}: {CLOCK_KINDS[notice.clock_kind][lang]}")
    concerning = subject_label(notice.subject_type, notice.subject_id, lang)
    if concerning:
        lines.append(f"{LABELS['concerning'][lang]}: {concerning}")
    if notice.due_at is not None:
        lines.append(f"{LABELS['due'][lang]}: {local_time(notice.due_at, notice.timezone)}")
    lines += ["", f"{LABELS['open'][lang]}: {url}", "", LABELS["footer"][lang]]
    return "\n".join(lines) + "\n"


def email(notice: Notice, *, lang: str, to: str, sender: str, url: str,
          message_id: str) -> EmailMessage:
    """The e-mail for one recipient, with a Message-ID fixed by outbox row and recipient."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Qorgau: " + title(notice.kind, lang, notice.refs)
    msg["Message-ID"] = message_id
    msg.set_content(body(notice, lang, url))
    msg["Content-Language"] = language(lang)  # after set_content, which clears Content-* headers
    return msg
