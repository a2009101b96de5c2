"""Pages that belong to no single domain area: the start page, the language picker, keep-alive."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, redirect, render_template, request, session, url_for

from services.agencies import actions, queries
from services.auth.current import login_required, safe_next
from services.db import transaction
from services.i18n import LANGUAGES
from services.web import labels
from services.web.navigation import nav_items

bp = Blueprint("web", __name__)
bp.record_once(lambda state: labels.init_filters(state.app))


@bp.app_context_processor
def _layout():
    return {"nav_items": nav_items, "emergency_grants": emergency_grants}


def emergency_grants() -> list[dict]:
    """The signed-in caseworker's live emergency grants, for the banner on every page."""
    return []


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
