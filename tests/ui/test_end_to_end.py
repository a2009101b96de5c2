"""The issue's scenario across users, each in a browser context of their own, then every page type
of the scenario checked with axe-core and in kk and ru.

psychologist.school12 files an immediate suicide-risk referral to social-munaily and
psych-center-mng → worker.social sees it at the top of the queue and accepts → the case's clock is
advanced past due and the sweep escalates → head.social sees the escalation and acknowledges it →
worker.social brings the psychological support centre into the case and assigns it the
psychological assessment (once a referral is accepted the other recipients no longer screen it) →
psychologist.center records the psychological assessment → prosecutor.mng opens the
case read-only and issues an instruction → worker.social (the lead agency, to which it is
addressed) answers it under the instruction and the prosecutor reads the answer there → "who has
seen this child's record" lists every view above, and teacher.school5 (another school) gets a 404
for the child.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from tests.ui.conftest import deliver_notifications, screenshot
from tests.ui.test_accessibility import sweep

SOCIAL = "Munaily guardianship and family support"
PSYCH = "Mangystau psychological support centre"
ids: dict[str, int] = {}


def _id_from(url: str, kind: str) -> int:
    return int(re.search(rf"/{kind}/(\d+)", url).group(1))


def test_an_immediate_referral_goes_from_a_school_to_the_prosecutor(people, ui_app):
    # 1. The school psychologist files the referral; the ASQ answers show "immediate" at once.
    school = people.signed_in("psychologist.school12")
    school.goto("/referrals/new")
    school.fill("#last_name", "Serikbayeva")
    school.fill("#first_name", "Aruzhan")
    school.fill("#date_of_birth", "2012-03-14")
    school.check("input[name=sex][value=F]")
    school.check("input[name=categories][value=self_harm_or_suicide_risk]")
    school.fill("#observed_at", (datetime.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    school.fill("#observation", "She gave away her things and wrote a goodbye note to a friend.")
    for q, a in (("q1", "yes"), ("q2", "yes"), ("q3", "yes"), ("q4", "no"), ("q5", "yes")):
        school.check(f"input[name=asq_{q}][value={a}]")
    assert "Priority: immediate" in school.locator("#priority-preview").inner_text()
    school.get_by_label(SOCIAL).check()
    school.get_by_label(PSYCH).check()
    screenshot(school, "scenario-1-file-referral")
    with school.expect_navigation():
        school.click("#file-referral")
    ids["referral"] = _id_from(school.url, "referrals")
    assert school.locator("#referral-state").inner_text() == "Submitted"
    assert "Immediate" in school.locator("h1 + p").inner_text()

    # 2. The social worker sees it first in the queue and accepts it.
    social = people.signed_in("worker.social")
    social.goto("/queue")
    first = social.locator("#incoming tr.referral").first
    assert first.get_attribute("data-referral-id") == str(ids["referral"])
    screenshot(social, "scenario-2-queue")
    with social.expect_navigation():
        first.get_by_role("link").click()
    social.check("input[name=decision][value=accept]")
    with social.expect_navigation():
        social.click("#screen-button")
    ids["case"] = _id_from(social.url, "cases")
    ids["child"] = int(re.search(r"/children/(\d+)", social.locator("#child-link").get_attribute("href")).group(1))
    assert social.locator("#case-state").inner_text() == "Open"

    # 3. Time passes: the case's first-contact clock (4 hours) runs out and the sweep escalates.
    from services.clocks.sweep import sweep as run_sweep

    with ui_app.app_context():
        run_sweep(ui_app.extensions["qorgau_db"], now=datetime.now(timezone.utc) + timedelta(hours=5))

    # 4. The head of social services sees the escalation, opens the case and acknowledges it.
    head = people.signed_in("head.social")
    head.goto("/supervisor/escalations")
    row = head.locator(f"li.escalation:has(a[href='/cases/{ids['case']}'])").first
    assert "level 1" in row.inner_text()
    screenshot(head, "scenario-4-escalations")
    with head.expect_navigation():
        row.locator(f"a[href='/cases/{ids['case']}']").click()
    head.go_back()
    row = head.locator(f"li.escalation:has(a[href='/cases/{ids['case']}'])").first
    with head.expect_navigation():
        row.locator("button.acknowledge").click()
    assert "acknowledged" in head.locator(f"li.escalation:has(a[href='/cases/{ids['case']}'])").first.inner_text()

    # 5. The lead brings in the psychological support centre and assigns it the psychological
    # assessment, which its psychologist records.
    social.goto(f"/cases/{ids['case']}")
    social.select_option("#participant-agency_id", label=PSYCH)
    with social.expect_navigation():
        social.click("form[action$='/participants'] button[type=submit]")
    social.select_option("#add-assessment-kind", "psychological")
    social.select_option("#add-assessment-agency_id", label=PSYCH)
    with social.expect_navigation():
        social.click("#add-assessment button[type=submit]")
    centre = people.signed_in("psychologist.center")
    centre.goto(f"/cases/{ids['case']}")
    form = centre.locator("form.assessment-form[data-assessment-kind=psychological]")
    form.locator("select[name=outcome]").select_option("protection_needed")
    form.locator("textarea[name=summary]").fill("Acute risk confirmed; safety plan agreed with the mother.")
    with centre.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "Acute risk confirmed; safety plan agreed with the mother." in centre.locator("#chronology ~ ol").inner_text()
    screenshot(centre, "scenario-5-case")

    # 6. The prosecutor opens the case read-only and issues an instruction.
    prosecutor = people.signed_in("prosecutor.mng")
    prosecutor.goto(f"/cases/{ids['case']}")
    assert prosecutor.locator("#read-only-notice").is_visible()
    assert prosecutor.locator("#entry-form").count() == 0
    prosecutor.fill("#instruction-instruction", "Report the first contact with the child by tomorrow.")
    with prosecutor.expect_navigation():
        prosecutor.click("#issue-instruction")
    assert "Report the first contact with the child by tomorrow." in prosecutor.content()
    instruction = prosecutor.locator("li.entry-instruction",
                                     has_text="Report the first contact with the child by tomorrow.")
    ids["instruction"] = int(instruction.get_attribute("data-entry-id"))
    assert instruction.locator(".answer").inner_text().strip() == "Not answered yet."
    assert instruction.locator("form.answer-form").count() == 0  # oversight does not answer

    # 6b. The social worker answers the instruction on the case page (an empty answer is refused
    # with the field named); the prosecutor reads the answer under the instruction.
    social.goto(f"/cases/{ids['case']}")
    form = social.locator(f"#answer-{ids['instruction']}-form")
    with social.expect_navigation():
        form.locator("button.answer-instruction").click()
    assert social.locator(f"#answer-{ids['instruction']}-body-error").is_visible()
    form = social.locator(f"#answer-{ids['instruction']}-form")
    form.locator("textarea[name=body]").fill("Seen at home with her mother today; safety plan in place.")
    with social.expect_navigation():
        form.locator("button.answer-instruction").click()
    assert social.locator(f"#answer-{ids['instruction']}-form").count() == 0
    prosecutor.goto(f"/cases/{ids['case']}")
    answer = prosecutor.locator(f"#answer-{ids['instruction']}")
    assert answer.get_attribute("data-answered") == "yes"
    assert "Seen at home with her mother today; safety plan in place." in answer.inner_text()
    assert "Answer to an instruction" in prosecutor.locator("#chronology ~ ol").inner_text()
    screenshot(prosecutor, "scenario-6-instruction-answered")

    # 7. Who has seen this child's record: every view above, and the other school gets a 404.
    prosecutor.goto(f"/reports/child-access?child_id={ids['child']}")
    report = prosecutor.locator("#report").inner_text()
    for username in ("psychologist.school12", "worker.social", "head.social", "psychologist.center",
                     "prosecutor.mng"):
        assert username in report, username
    screenshot(prosecutor, "scenario-7-who-has-seen")
    teacher = people.signed_in("teacher.school5")
    answer = teacher.goto(f"/children/{ids['child']}")
    assert answer.status == 404


def test_a_disagreement_on_the_case_is_notified_and_taken_to_stage_2(people, ui_app):
    # The psychological centre disagrees with the lead agency's plan and raises it on the case page.
    assert "case" in ids, "the scenario above must run first"
    centre = people.signed_in("psychologist.center")
    centre.goto(f"/cases/{ids['case']}")
    centre.click("#raise-disagreement summary")
    centre.select_option("#disagreement-against_agency_id", label=SOCIAL)
    centre.select_option("#disagreement-decision_type", "case_plan")
    centre.fill("#disagreement-reason", "The plan has no follow-up session with a psychologist.")
    with centre.expect_navigation():
        centre.click("#raise-disagreement-button")
    section = centre.locator("section.disagreement").first
    ids["disagreement"] = int(section.get_attribute("data-disagreement-id"))
    assert "stage 1 of 3" in section.inner_text()
    assert section.locator("tr.stage").count() == 1
    assert "left" in section.locator("tr.stage").inner_text()

    # The social worker, assigned to the case, is notified: the count beside the link, the list,
    # a link to the case; she takes the disagreement to the supervisors.
    deliver_notifications(ui_app)
    social = people.signed_in("worker.social")
    social.goto("/queue")
    assert int(social.locator("#nav-unread").inner_text().split()[0]) >= 1
    with social.expect_navigation():
        social.locator("nav.main-nav a[href='/notifications']").click()
    screenshot(social, "scenario-8-notifications")
    item = social.locator("li.notification.unread",
                          has_text="A professional disagreement has been raised").first
    with social.expect_navigation():
        item.locator(f"a[href='/cases/{ids['case']}']").click()
    mine = social.locator(f"#disagreement-{ids['disagreement']}")
    mine.locator("summary", has_text="Take it to stage 2").click()
    mine.locator("textarea[name=reason]").fill("We could not agree between the two of us.")
    with social.expect_navigation():
        mine.locator("button.advance").click()
    mine = social.locator(f"#disagreement-{ids['disagreement']}")
    assert mine.get_attribute("data-stage") == "2" and mine.locator("tr.stage").count() == 2
    assert "done" in mine.locator("tr.stage[data-stage='1']").inner_text()
    assert mine.locator("button.advance").count() == 0  # stage 2 is for the supervisors
    screenshot(social, "scenario-9-disagreement")

    # Marking the notification read takes it off the count.
    social.goto("/notifications?unread=1")
    before = social.locator("li.notification.unread").count()
    with social.expect_navigation():
        social.locator("li.notification.unread button.mark-read").first.click()
    assert social.locator("li.notification[data-read='no']").count() == before - 1


def test_every_page_type_of_the_scenario_passes_axe_and_is_translated(people):
    assert {"referral", "case", "child", "instruction"} <= set(ids), "the scenario above must run first"
    # A second instruction, unanswered: the lead agency's case page shows its answer form, the
    # prosecutor's shows the first one's answer.
    prosecutor = people.signed_in("prosecutor.mng")
    prosecutor.goto(f"/cases/{ids['case']}")
    prosecutor.fill("#instruction-instruction", "Send the safety plan agreed with the mother.")
    with prosecutor.expect_navigation():
        prosecutor.click("#issue-instruction")
    social = people.signed_in("worker.social")
    social.goto(f"/cases/{ids['case']}")
    assert social.locator("form.answer-form").count() == 1
    pages = [
        ("file-referral", "psychologist.school12", "/referrals/new"),
        ("queue", "worker.social", "/queue"),
        ("referral", "worker.social", "/referrals/{referral}"),
        ("case", "worker.social", "/cases/{case}"),
        ("child", "worker.social", "/children/{child}"),
        ("child-search", "worker.social", "/children"),
        ("cases", "worker.social", "/cases"),
        ("escalations", "head.social", "/supervisor/escalations"),
        ("approvals", "head.social", "/supervisor/approvals"),
        ("grant-reviews", "head.social", "/supervisor/emergency-access"),
        ("case-oversight", "prosecutor.mng", "/cases/{case}"),
        ("reports", "prosecutor.mng", "/reports"),
        ("who-has-seen", "prosecutor.mng", "/reports/child-access?child_id={child}"),
        ("emergency-access", "teacher.school5", "/children/{child}/emergency-access"),
        ("admin-user", "admin.school12", "/admin/users"),
        ("notifications", "worker.social", "/notifications"),
    ]
    from tests.ui.pages import PageType

    problems = sweep(people, [PageType(*p) for p in pages], ids)
    assert not problems, "\n".join(problems)
