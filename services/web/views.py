"""Pages that belong to no single domain area: the landing page and the language picker."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from services.agencies import actions, queries
from services.auth.current import login_required, safe_next
from services.db import transaction
from services.i18n import LANGUAGES

bp = Blueprint("web", __name__)


@bp.get("/")
@login_required
def home():
    with transaction(g.actor) as conn:
        agency = queries.get_agency(conn, g.actor.agency_id)
    return render_template("home.html", agency=agency)


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
