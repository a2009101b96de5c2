"""A cheap copy of CKAN's auth audit (STYLE.md rule 5): protected rows are loaded in few places.

Two rules, read from the source (nothing is imported or run):

1. SQL that reads a protected table (one that a migration puts under row-level security) lives
   only in access modules (``access.py``) and query modules (``queries.py``, ``*_queries.py``).
   A view, an action or a helper that SELECTs from ``cases`` itself fails.
2. A route that reaches a query function reading a protected table (itself, or through the
   helpers of its module) must also reach an ``access_*`` function (``_case`` in
   services/cases/views.py does it for every case route): no route loads protected rows
   without the access check.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
MIGRATIONS = ROOT / "migrations" / "versions"

# Functions that read protected rows bypassing row-level security (SECURITY DEFINER): the facts
# the policy decides on. Only access modules and query modules may call them.
BYPASSING = ("qorgau_case_facts", "qorgau_referral_facts", "qorgau_child_facts", "qorgau_live_grants")


# Under row-level security keyed on the acting user alone: everyone reads only their own rows, so
# there is no access_* decision to route them through (services/idempotency.py reads them).
OWN_ROWS = frozenset({"idempotency_keys"})
# Under row-level security that decides by the actor's kind, not by the access policy: the outbox
# and its e-mail deliveries hold ids and codes, no child data, and are Qorgau's system actor's
# (0013_outbox_policies); services/outbox.py reads them, the dead letters after
# require_system_admin.
SYSTEM_ROWS = frozenset({"outbox", "deliveries"})


def protected_tables() -> set[str]:
    """Tables of the public schema that some migration puts under row-level security."""
    found = set()
    for path in MIGRATIONS.glob("*.py"):
        found |= set(re.findall(r"ALTER TABLE\s+(\w+)\s+ENABLE ROW LEVEL SECURITY", path.read_text()))
    return found - OWN_ROWS - SYSTEM_ROWS


def reads_protected(sql: str, protected: set[str]) -> set[str]:
    """The protected tables (and bypassing functions) that ``sql`` reads FROM or JOINs."""
    names = "|".join(sorted(protected | set(BYPASSING), key=len, reverse=True))
    pattern = rf"\b(?:from|join)\s+(?:only\s+)?\"?({names})\"?\b"
    return set(re.findall(pattern, " ".join(sql.split()), re.I))


def _strings(node: ast.AST) -> list[str]:
    """String constants under ``node``, with the literal parts of f-strings joined."""
    parts = {id(v) for n in ast.walk(node) if isinstance(n, ast.JoinedStr) for v in n.values}
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.JoinedStr):
            out.append("".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str)
                               else " x " for v in n.values))
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in parts:
            out.append(n.value)
    return out


def is_access_module(path: Path) -> bool:
    return path.name == "access.py"


def is_query_module(path: Path) -> bool:
    return path.name == "queries.py" or path.name.endswith("_queries.py")


def is_view_module(path: Path, tree: ast.Module) -> bool:
    """views.py, *_views.py, or any module that makes a Flask Blueprint."""
    if path.name == "views.py" or path.name.endswith("_views.py"):
        return True
    return any(isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == "Blueprint"
               for n in ast.walk(tree))


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    what: str


def sql_violations(path: Path, source: str, protected: set[str]) -> list[Violation]:
    """Rule 1: protected SQL outside access and query modules."""
    if is_access_module(path) or is_query_module(path):
        return []
    tree = ast.parse(source)
    inside_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and id(node) not in inside_fstrings):
            for text in _strings(node):
                if tables := reads_protected(text, protected):
                    out.append(Violation(str(path), node.lineno, f"reads {', '.join(sorted(tables))}"))
    return out


def protected_query_functions(path: Path, source: str, protected: set[str]) -> set[str]:
    """Functions of a query module whose SQL (inline, or a module constant they use) is protected."""
    tree = ast.parse(source)
    constants = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(reads_protected(s, protected) for s in _strings(node.value)):
            constants |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    found = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            uses_constant = any(isinstance(n, ast.Name) and n.id in constants for n in ast.walk(node))
            if uses_constant or any(reads_protected(s, protected) for s in _strings(node)):
                found.add(node.name)
    return found


def _query_aliases(tree: ast.Module, query_modules: dict[str, set[str]]) -> tuple[dict[str, set[str]], set[str]]:
    """Names a view module uses for protected query modules, and protected functions imported bare."""
    aliases, bare = {}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                if dotted in query_modules:
                    aliases[alias.asname or alias.name] = query_modules[dotted]
                elif node.module in query_modules and alias.name in query_modules[node.module]:
                    bare.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in query_modules and alias.asname:
                    aliases[alias.asname] = query_modules[alias.name]
    return aliases, bare


def _calls(fn: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(fn) if isinstance(n, ast.Call)]


def _call_name(call: ast.Call) -> tuple[str | None, str | None]:
    """(object, attribute) for ``obj.attr(...)``; (None, name) for ``name(...)``."""
    if isinstance(call.func, ast.Attribute):
        return getattr(call.func.value, "id", None), call.func.attr
    if isinstance(call.func, ast.Name):
        return None, call.func.id
    return None, None


ROUTE_DECORATORS = {"get", "post", "put", "patch", "delete", "route"}


def _is_route(fn) -> bool:
    return any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in ROUTE_DECORATORS
               for d in fn.decorator_list)


def view_violations(path: Path, source: str, query_modules: dict[str, set[str]]) -> list[Violation]:
    """Rule 2: a route reaching protected query functions without an access_* call on the way.

    A route is followed into the helpers of its own module that it calls (``_case``,
    ``_case_response``): the check may sit in one helper and the query in another.
    """
    tree = ast.parse(source)
    if not is_view_module(path, tree):
        return []
    aliases, bare = _query_aliases(tree, query_modules)
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def reach(fn) -> list:
        seen, todo = {fn.name: fn}, [fn]
        while todo:
            for call in _calls(todo.pop()):
                obj, name = _call_name(call)
                if obj is None and name in functions and name not in seen:
                    seen[name] = functions[name]
                    todo.append(functions[name])
        return list(seen.values())

    out = []
    for route in filter(_is_route, functions.values()):
        calls = [c for f in reach(route) for c in _calls(f)]
        names = [_call_name(c) for c in calls]
        if any(name and name.startswith("access_") for _, name in names):
            continue
        for call, (obj, name) in zip(calls, names):
            if (obj in aliases and name in aliases[obj]) or (obj is None and name in bare):
                out.append(Violation(str(path), call.lineno, f"{route.name} reaches "
                                     f"{obj + '.' if obj else ''}{name} without access_*"))
    return out


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def scan(root: Path = SERVICES) -> list[Violation]:
    """Both rules over every module under ``root``."""
    protected = protected_tables()
    sources = {p: p.read_text() for p in root.rglob("*.py")}
    query_modules = {_module_name(p): protected_query_functions(p, s, protected)
                     for p, s in sources.items() if is_query_module(p)}
    query_modules = {m: fns for m, fns in query_modules.items() if fns}
    out = []
    for path, source in sources.items():
        out += sql_violations(path, source, protected)
        out += view_violations(path, source, query_modules)
    return out


# --- the rules, shown on synthetic modules -------------------------------------------------------

PROTECTED = {"cases", "children", "chronology_entries"}
QUERIES = {"services.cases.queries": {"get_case", "list_entries"}}

BAD_VIEW = '''
from flask import Blueprint
from services.db import transaction
bp = Blueprint("cases", __name__)

@bp.get("/cases/<int:case_id>")
def get_case(case_id):
    with transaction(g.actor) as conn:
        return conn.execute("SELECT * FROM cases WHERE id = %s", (case_id,)).fetchone()
'''

SNEAKY_VIEW = '''
from services.cases import queries
bp = Blueprint("cases", __name__)

@bp.get("/cases/<int:case_id>")
def get_case(case_id):
    with transaction(g.actor) as conn:
        return queries.get_case(conn, case_id)
'''

GOOD_VIEW = '''
from services import access
from services.cases import queries
bp = Blueprint("cases", __name__)

@contextmanager
def _case(case_id):
    with transaction(g.actor) as conn:
        _, facts = access.access_case(conn, g.actor, case_id)
        yield conn, facts

def _document(conn, case_id):
    return queries.get_case(conn, case_id)

@bp.get("/cases/<int:case_id>")
def get_case(case_id):
    with _case(case_id) as (conn, facts):
        return _document(conn, case_id)
'''


def test_a_view_that_selects_from_a_protected_table_itself_fails():
    found = sql_violations(Path("services/cases/views.py"), BAD_VIEW, PROTECTED)
    assert [(v.line, v.what) for v in found] == [(9, "reads cases")]


def test_an_action_that_selects_from_a_protected_table_itself_fails():
    source = 'def close(conn, case_id):\n    conn.execute(f"SELECT state FROM {SCHEMA}cases c JOIN children ch ON ch.id = c.child_id")\n'
    found = sql_violations(Path("services/cases/actions.py"), source.replace("{SCHEMA}", ""), PROTECTED)
    assert [v.what for v in found] == ["reads cases, children"]


def test_query_and_access_modules_may_select_from_protected_tables():
    assert sql_violations(Path("services/cases/queries.py"), BAD_VIEW, PROTECTED) == []
    assert sql_violations(Path("services/clocks/deadline_queries.py"), BAD_VIEW, PROTECTED) == []
    assert sql_violations(Path("services/access.py"), BAD_VIEW, PROTECTED) == []


def test_writing_to_a_protected_table_is_not_reading_it():
    assert reads_protected("INSERT INTO cases (id) VALUES (%s)", PROTECTED) == set()
    assert reads_protected("select *\n  from   Cases where id = 1", PROTECTED) == {"Cases"}
    assert reads_protected("SELECT * FROM cases_view", PROTECTED) == set()
    assert reads_protected("SELECT * FROM qorgau_case_facts(%s)", PROTECTED) == {"qorgau_case_facts"}


def test_a_view_calling_a_protected_query_without_access_fails():
    found = view_violations(Path("services/cases/views.py"), SNEAKY_VIEW, QUERIES)
    assert [v.what for v in found] == ["get_case reaches queries.get_case without access_*"]


def test_a_view_calling_a_protected_query_after_access_passes():
    assert view_violations(Path("services/cases/views.py"), GOOD_VIEW, QUERIES) == []


def test_a_protected_query_function_is_found_through_its_sql_constant():
    source = 'COLUMNS = "id"\nENTRIES = "SELECT e.id FROM chronology_entries e"\n\ndef list_entries(conn):\n' \
             '    return conn.execute(ENTRIES).fetchall()\n\ndef columns():\n    return COLUMNS\n'
    assert protected_query_functions(Path("q.py"), source, PROTECTED) == {"list_entries"}


def test_every_child_data_table_of_the_migrations_is_protected():
    assert {"children", "referrals", "referral_referrers", "cases", "case_participants",
            "chronology_entries", "chronology_bodies", "assessments", "access_grants"} <= protected_tables()


def test_no_module_loads_protected_rows_outside_access_and_query_modules():
    assert [f"{Path(v.path).relative_to(ROOT)}:{v.line}: {v.what}" for v in scan()] == []
