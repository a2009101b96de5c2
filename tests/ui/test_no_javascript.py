"""Filing a referral with JavaScript switched off: the server-rendered form does it all, and a
refused form names its fields."""
from __future__ import annotations

from datetime import datetime, timedelta

POLICE = "Mangystau police juvenile unit"


def test_a_referral_is_filed_without_javascript(people):
    page = people.signed_in("psychologist.school12", java_script=False)
    page.goto("/referrals/new")
    with page.expect_navigation():
        page.click("#file-referral")
    assert page.locator("#form-errors").is_visible()
    for field in ("last_name", "observation", "categories", "receiving_agency_ids"):
        assert page.locator(f"#{field}-error").is_visible(), field
    page.fill("#last_name", "Omarov")
    page.fill("#first_name", "Dias")
    page.fill("#date_of_birth", "2011-09-30")
    page.check("input[name=sex][value=M]")
    page.check("input[name=categories][value=bullying]")
    page.fill("#observed_at", (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#observation", "Older pupils took his phone and pushed him on the stairs.")
    page.check("input[name=harm_suspected]")
    page.get_by_label(POLICE).check()
    with page.expect_navigation():
        page.click("#file-referral")
    assert "/referrals/" in page.url and "/new" not in page.url
    assert page.locator("#referral-state").inner_text() == "Submitted"
    assert "Standard" in page.locator("h1 + p").inner_text()
