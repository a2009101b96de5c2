"""The bare baseline: a Flask app with no Qorgau in it, served by the same gunicorn settings.

``GET /pk/<id>`` selects one case by primary key; ``POST /referrals`` runs the raw filing
transaction of ``bench/filing.py`` (the SQL the referral endpoint performs, audit chain and
outbox included). No tokens, policy, validation, logging or JSON schema: what is left is Flask,
psycopg and PostgreSQL. ``BENCH_ADMIN_URL`` reads as the owner (no row-level security),
``BENCH_APP_URL`` writes as the application role; ``BENCH_FILER`` is ``user,agency,region,
district,child,recipient``.

    gunicorn bench.bare_app:app
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from flask import Flask, jsonify
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.filing import Filer, run_filing  # noqa: E402

app = Flask(__name__)
_read = ConnectionPool(os.environ["BENCH_ADMIN_URL"], min_size=1, max_size=4, open=True,
                       kwargs={"row_factory": dict_row})
_write = ConnectionPool(os.environ["BENCH_APP_URL"], min_size=1, max_size=4, open=True)
_filer = Filer.parse(os.environ["BENCH_FILER"])


@app.get("/pk/<int:case_id>")
def select_case(case_id: int):
    with _read.connection() as conn:
        row = conn.execute("SELECT id, child_id, state, priority, lead_agency_id, opened_at, closed_at"
                           " FROM cases WHERE id = %s", (case_id,)).fetchone()
    if row is None:
        return jsonify({"detail": "not found"}), 404
    return jsonify(row)


@app.post("/referrals")
def file_referral():
    with _write.connection() as conn:
        referral_id = run_filing(conn, _filer)
    return jsonify({"id": referral_id}), 201
