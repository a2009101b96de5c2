"""Browser libraries installed from npm (``make install`` runs ``npm ci``), served by the app itself.

Only the files named in ``VENDOR`` are served, never the rest of ``node_modules``. When
``node_modules`` is missing (a machine without npm) the pages leave the script out and keep
working without it: every page is usable without JavaScript.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_file, url_for

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"

# Public name → file inside node_modules.
VENDOR = {
    "htmx.js": "htmx.org/dist/htmx.min.js",
    # Accessibility checker used by the browser tests; harmless to serve, never loaded by pages.
    "axe.js": "axe-core/axe.min.js",
}

bp = Blueprint("assets", __name__)


def vendor_path(name: str) -> Path | None:
    """Where ``name`` lies on disk, or None when it is unknown or not installed."""
    relative = VENDOR.get(name)
    if relative is None:
        return None
    path = NODE_MODULES / relative
    return path if path.is_file() else None


def vendor_url(name: str) -> str | None:
    """The URL of an installed vendor file, or None (templates then leave the script out)."""
    if vendor_path(name) is None:
        return None
    return url_for("assets.vendor", name=name)


@bp.get("/static/vendor/<name>")
def vendor(name: str):
    path = vendor_path(name)
    if path is None:
        abort(404)
    return send_file(path, mimetype="text/javascript", max_age=3600)


@bp.app_context_processor
def _vendor():
    return {"vendor_url": vendor_url}
