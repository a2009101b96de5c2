"""htmx and axe-core come from node_modules through the app; without them pages still work."""
from __future__ import annotations

from services.web import assets


def test_vendor_files_are_served_by_the_app_and_nothing_else_of_node_modules(client):
    answer = client.get("/static/vendor/htmx.js")
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"
    assert client.get("/static/vendor/axe.js").status_code == 200
    assert client.get("/static/vendor/package.json").status_code == 404
    assert client.get("/static/vendor/..%2Fpackage.json").status_code == 404


def test_pages_work_without_node_modules(page_as, monkeypatch, tmp_path):
    monkeypatch.setattr(assets, "NODE_MODULES", tmp_path)
    page = page_as("social_worker").get("/")
    assert page.status_code == 200
    assert "/static/vendor/htmx.js" not in page.get_data(as_text=True)
    assert page_as("social_worker").get("/static/vendor/htmx.js").status_code == 404
