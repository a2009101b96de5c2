"""The statistics page in a real browser: the council and oversight reach it from the navigation,
filter by period and district without JavaScript, and download the CSV."""
from __future__ import annotations

from datetime import date, timedelta



def test_the_council_filters_the_statistics_without_javascript(people):
    page = people.signed_in("secretary.council", java_script=False)
    page.goto("/")
    with page.expect_navigation():
        page.click("nav.main-nav >> text=Statistics")
    assert page.url.endswith("/statistics")
    assert page.locator("#suppression-note").is_visible()
    for table in ("#referrals-by-week", "#referrals-by-district", "#outcomes", "#compliance",
                  "#first-contact"):
        assert page.locator(table).is_visible(), table
    assert page.locator("svg#chart-weeks").is_visible()
    start = (date.today() - timedelta(days=27)).isoformat()
    page.fill("#from", start)
    page.fill("#to", date.today().isoformat())
    page.select_option("#district", index=1)
    with page.expect_navigation():
        page.click("#statistics-form button[type=submit]")
    assert f"from={start}" in page.url and "district=" in page.url
    assert page.locator("#referrals-by-week tbody tr").count() in (4, 5)
    # Every count the council sees is "<5" or at least 5.
    for text in page.locator("#outcomes td").all_inner_texts():
        assert text == "<5" or int(text) >= 5, text


def test_oversight_reads_exact_figures_and_downloads_the_csv(people, tmp_path):
    page = people.signed_in("prosecutor.mng")
    page.goto("/statistics")
    assert "Exact counts" in page.locator("#suppression-note").inner_text()
    with page.expect_download() as download:
        page.click("#csv-link")
    saved = tmp_path / "statistics.csv"
    download.value.save_as(saved)
    assert saved.read_text(encoding="utf-8").startswith("table,week,district,category")


def test_a_refused_date_is_named_beside_its_field(people):
    page = people.signed_in("prosecutor.mng", java_script=False)
    page.goto("/statistics?from=2026-03-01&to=2024-01-01")
    assert page.locator("#form-errors").is_visible()
    assert page.locator("#to-error").is_visible()
