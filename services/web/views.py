"""Pages that belong to no single domain area: the start page, the language picker, keep-alive."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext

from services.agencies import actions, queries
from services.grants import queries as grant_queries
from services.auth.current import login_required, safe_next
from services.db import transaction
from services.i18n import LANGUAGES
from services.web import disagreements, forms, labels, notifications
from services.web.navigation import nav_items

bp = Blueprint("web", __name__)
bp.record_once(lambda state: labels.init_filters(state.app))
bp.before_app_request(forms.refuse_unstorable)
bp.register_blueprint(notifications.bp)  # /notifications
bp.register_blueprint(disagreements.bp)  # /cases/<id>/disagreements, forms of the case page


@bp.app_context_processor
def _layout():
    return {"nav_items": nav_items, "emergency_grants": emergency_grants, "has_page": has_page}


def has_page(endpoint: str) -> bool:
    """Is ``endpoint`` part of this build (pages link to others only when they exist)?"""
    return endpoint in current_app.view_functions


def emergency_grants() -> list[dict]:
    """The signed-in caseworker's live emergency grants, for the banner on every page.

    Only the grant's own row is read (the holder may always see it); no child data is shown.
    """
    actor = g.get("actor")
    if actor is None or actor.kind != "user" or not actor.has("caseworker"):
        return []
    if "banner_grants" not in g:
        with transaction(actor) as conn:
            rows = grant_queries.page(conn, scope="own", key=actor.user_id, pending_review=False,
                                      before_id=None, limit=10)
        now = datetime.now(timezone.utc)
        g.banner_grants = [
            {"id": r["id"], "child_id": r["child_id"],
             "child_label": gettext("child %(id)s", id=r["child_id"]),
             "minutes_left": max(1, int((r["expires_at"] - now).total_seconds() // 60)),
             "url": url_for("children_web.child_page", child_id=r["child_id"])}
            for r in rows if r["live"]]
    return g.banner_grants


@bp.get("/")
@login_required
def home():
    with transaction(g.actor) as conn:
        agency = queries.get_agency(conn, g.actor.agency_id)
    return render_template("home.html", agency=agency, links=nav_items())


@bp.post("/language")
def choose_language():
    """Remember the chosen language on this browser and, when signed in, in the user's profile."""
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
        if g.actor is not None and g.actor.user_id is not None:
            with transaction(g.actor) as conn:
                user = queries.get_user(conn, g.actor.user_id)
                actions.update_profile(conn, user, actor=g.actor, preferred_language=lang)
    return redirect(safe_next(request.form.get("next")))


@bp.post("/session/keep-alive")
def keep_alive():
    """Keep the session open: loading it for this request already counted as activity.

    The idle warning calls this with ``fetch``; without JavaScript the form posts here and
    returns to the page it came from.
    """
    if g.get("actor") is None:
        if request.accept_mimetypes.best == "application/json":
            return jsonify(signed_in=False), 401
        return redirect(url_for("auth.login"))
    if request.accept_mimetypes.best == "application/json":
        return jsonify(signed_in=True)
    return redirect(safe_next(request.form.get("next")))
