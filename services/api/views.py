"""The API's own endpoints: the OpenAPI document, interactive docs, and unknown paths."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, send_from_directory

from services.security import csrf

bp = Blueprint("api", __name__, url_prefix="/api")
csrf.exempt(bp)

# Swagger UI 5 (renders OpenAPI 3.1) as shipped in the flask-openapi3-swagger wheel; only its
# static files are used, the package itself is never imported.
SWAGGER_DIR = Path(importlib.util.find_spec("flask_openapi3_swagger").submodule_search_locations[0],
                   "templates", "swagger")


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document, generated from the same models that validate requests."""
    from services.api.spec import build_openapi

    doc = current_app.extensions.get("qorgau_openapi")
    if doc is None:
        doc = current_app.extensions["qorgau_openapi"] = build_openapi(current_app)
    return jsonify(doc)


@bp.get("/docs")
def docs():
    """Swagger UI, served from the installed package (no CDN)."""
    return render_template("api/docs.html")


@bp.get("/docs/assets/<path:filename>")
def docs_assets(filename: str):
    return send_from_directory(SWAGGER_DIR, filename, max_age=3600)
