"""Small-count suppression for the council (DESIGN.md §4: "Council sees aggregates only, with small
counts (< 5) suppressed so no child can be re-identified from published figures").

The rule, applied to every table the council sees:

1. Primary: every count below 5, zero included, is shown as "<5" (PostgreSQL already returns
   these as NULL to the council, so the number never reaches the application).
2. Complementary: a table's totals are published, and a total minus the cells it sums would give
   back a suppressed cell. So in every line (a total and the cells it sums) where exactly one
   figure is suppressed, the smallest other figure of the line is suppressed as well, and this is
   repeated until no line has exactly one. A difference then recovers at most the sum of two or
   more suppressed cells, never one of them. Referral categories overlap (a referral may name
   two) but are treated as summing to the total all the same, which can only suppress more.
"""
from __future__ import annotations

from itertools import product

from services.statistics.records import ALL, THRESHOLD, Table


def lines(table: Table) -> list[list[tuple]]:
    """Every (total, the cells it sums) of a table with all its margins, as lists of keys."""
    out = []
    options = [(*values, ALL) for values in table.values]
    for key in product(*options):
        for i, value in enumerate(key):
            if value is ALL:
                out.append([key] + [key[:i] + (v,) + key[i + 1:] for v in table.values[i]])
    return out


def suppress(table: Table) -> Table:
    """The table as the council may see it: primary and complementary suppression applied."""
    cells = table.cells
    hidden = {key for key, value in cells.items() if value is None or value < THRESHOLD}
    groups = lines(table)
    changed = True
    while changed:
        changed = False
        for group in groups:
            present = [key for key in group if key in cells]
            if sum(key in hidden for key in present) != 1:
                continue
            shown = [key for key in present if key not in hidden]
            if shown:
                hidden.add(min(shown, key=lambda k: cells[k]))
                changed = True
    return Table(table.dimensions, table.values,
                 {key: (None if key in hidden else value) for key, value in cells.items()})
