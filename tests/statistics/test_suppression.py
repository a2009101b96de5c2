"""The council's suppression rule on its own, with no database (services/statistics/suppression.py)."""
from __future__ import annotations

from services.statistics.records import Table
from services.statistics.suppression import lines, suppress


def _table(a: int, b: int) -> Table:
    return Table(("x",), (("a", "b"),), {("a",): a, ("b",): b, (None,): a + b})


def test_a_count_below_five_is_suppressed_and_one_count_beside_it_too():
    shown = suppress(_table(7, 3))
    assert shown.get("b") is None
    # 10 - 7 would give the 3 back: the 7 is hidden as well, the total stays.
    assert shown.get("a") is None
    assert shown.get(None) == 10


def test_counts_of_five_and_more_are_shown():
    shown = suppress(_table(5, 9))
    assert shown.cells == {("a",): 5, ("b",): 9, (None,): 14}


def test_zero_is_a_small_count():
    assert suppress(_table(0, 12)).get("a") is None


def test_a_small_total_hides_its_cells():
    shown = suppress(_table(2, 1))
    assert shown.cells == {("a",): None, ("b",): None, (None,): None}


def test_no_line_of_a_two_way_table_is_left_with_one_hidden_figure():
    values = (("w1", "w2", "w3"), ("c1", "c2", "c3"))
    grid = {("w1", "c1"): 3, ("w1", "c2"): 20, ("w1", "c3"): 9,
            ("w2", "c1"): 11, ("w2", "c2"): 8, ("w2", "c3"): 30,
            ("w3", "c1"): 7, ("w3", "c2"): 12, ("w3", "c3"): 6}
    cells = dict(grid)
    for w in values[0]:
        cells[(w, None)] = sum(v for (ww, _), v in grid.items() if ww == w)
    for c in values[1]:
        cells[(None, c)] = sum(v for (_, cc), v in grid.items() if cc == c)
    cells[(None, None)] = sum(grid.values())
    table = Table(("week", "category"), values, cells)
    shown = suppress(table)
    assert shown.get("w1", "c1") is None
    for line in lines(table):
        assert sum(shown.cells[key] is None for key in line) != 1, line
