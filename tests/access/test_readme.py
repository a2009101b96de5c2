"""authz/README.md shows authz/model.yaml: its tables are generated, and must be up to date."""
from __future__ import annotations

from tests.access import render_table


def test_the_readme_tables_are_those_of_the_authorization_file():
    text = render_table.README.read_text(encoding="utf-8")
    assert render_table.BEGIN in text and render_table.END in text
    assert render_table.updated(text, render_table.render()) == text, (
        "authz/README.md is out of date: run python -m tests.access.render_table")


def test_a_changed_assertion_changes_the_tables():
    model = render_table.read_model()
    before = render_table.render(model)
    model["tests"][0]["check"][0]["assertions"]["read_case"] = False
    assert render_table.render(model) != before
