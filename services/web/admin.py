"""Administration pages: agency admins manage their users; the system admin manages agencies.

Neither role sees case content (DESIGN.md §1). Permission checks are ``services.access``'s, the
changes are ``services.agencies.actions``', exactly as the API uses them.
"""
from __future__ import annotations

import re

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

import audit
from audit import AuditAction
from services import access
from services.agencies import actions, queries
from services.agencies.records import AGENCY_KINDS, LANGUAGES, ROLES
from services.auth.current import login_required
from services.db import transaction
from services.errors import NotFound, QorgauError
from services.web.forms import FormErrors, from_error, required

bp = Blueprint("admin", __name__, url_prefix="/admin")

USERNAME = re.compile(r"^[a-z0-9._-]{3,60}$")
AGENCY_CODE = re.compile(r"^[a-z0-9-]{2,60}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _user_messages() -> dict[str, str]:
    return {"username": _("This user name is taken or not allowed."),
            "roles": _("Choose at least one role."),
            "preferred_language": _("Choose a language.")}


# --- users ---------------------------------------------------------------------------------

@bp.get("/users")
@login_required
def agency_users():
    """An agency admin's own users; the system admin starts from the list of agencies."""
    if g.actor.has("system_admin") and not g.actor.has("agency_admin"):
        return redirect(url_for("admin.agencies"))
    return redirect(url_for("admin.users_of", agency_id=g.actor.agency_id))


def _users_page(agency_id: int, *, errors: FormErrors | None = None, form=None):
    actor = access.require_user_admin(g.actor, agency_id, AuditAction.USERS_LISTED)
    with transaction(actor) as conn:
        agency = queries.get_agency(conn, agency_id)
        if agency is None:
            raise NotFound("No such agency or user.")
        users = queries.list_users(conn, agency_id)
        audit.record(conn, actor=actor, action=AuditAction.USERS_LISTED, object_type="agency",
                     object_id=str(agency_id), details={"count": len(users)})
    status = errors.status if errors else 200
    return render_template("admin/users.html", agency=agency, users=users, errors=errors or {},
                           form=form or {}, roles=_grantable_roles(), languages=LANGUAGES), status


def _grantable_roles() -> tuple[str, ...]:
    """Only the system administrator may make another system administrator."""
    return ROLES if g.actor.has("system_admin") else tuple(r for r in ROLES if r != "system_admin")


@bp.get("/agencies/<int:agency_id>/users")
@login_required
def users_of(agency_id: int):
    return _users_page(agency_id)


@bp.post("/agencies/<int:agency_id>/users")
@login_required
def create_user(agency_id: int):
    actor = access.require_user_admin(g.actor, agency_id, AuditAction.USER_CREATED)
    form = request.form
    errors = FormErrors()
    username = required(form, errors, "username").lower()
    if username and not USERNAME.match(username):
        errors.add("username", _("Use 3 to 60 lower-case letters, digits, dots, dashes or underscores."))
    full_name = required(form, errors, "full_name")
    if full_name and not 2 <= len(full_name) <= 200:
        errors.add("full_name", _("Enter a name of 2 to 200 characters."))
    email = (form.get("email") or "").strip() or None
    if email and (len(email) > 254 or not EMAIL.match(email)):
        errors.add("email", _("Enter an e-mail address such as name@example.kz."))
    password = form.get("password") or ""
    if len(password) < 12:
        errors.add("password", _("The password must have at least 12 characters."))
    roles = form.getlist("roles")
    if not roles or any(r not in _grantable_roles() for r in roles):
        errors.add("roles", _("Choose at least one role."))
    language = form.get("preferred_language", "ru")
    if language not in LANGUAGES:
        errors.add("preferred_language", _("Choose a language."))
    if not errors:
        try:
            with transaction(actor) as conn:
                user = actions.create_user(conn, actor=actor, agency_id=agency_id, username=username,
                                           full_name=full_name, password=password, roles=roles,
                                           email=email, preferred_language=language)
        except QorgauError as exc:
            errors = from_error(exc, _user_messages())
        else:
            flash(_("User %(username)s created.", username=user.username))
            return redirect(url_for("admin.users_of", agency_id=agency_id))
    kept = {k: v for k, v in form.items() if k != "password"}
    kept["roles"] = roles
    return _users_page(agency_id, errors=errors, form=kept)


def _managed_user(user_id: int, attempted: AuditAction):
    """The user if the actor administers their agency; the same 404 otherwise (audited)."""
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        user = queries.get_user(conn, user_id)
    if user is None or not access.can_manage_users_of(actor, user.agency_id):
        access.record_denial(actor, attempted, "user", user_id, reason="not_admin_of_agency")
        raise NotFound("No such agency or user.")
    return actor, user


def _user_page(user, *, errors: FormErrors | None = None):
    with transaction(g.actor) as conn:
        agency = queries.get_agency(conn, user.agency_id)
    status = errors.status if errors else 200
    return render_template("admin/user.html", user=user, agency=agency, errors=errors or {},
                           roles=_grantable_roles()), status


@bp.get("/users/<int:user_id>")
@login_required
def user(user_id: int):
    _, user = _managed_user(user_id, AuditAction.USER_UPDATED)
    return _user_page(user)


@bp.post("/users/<int:user_id>/roles")
@login_required
def change_roles(user_id: int):
    actor, user = _managed_user(user_id, AuditAction.ROLE_CHANGED)
    roles = request.form.getlist("roles")
    if "system_admin" in roles and not actor.has("system_admin"):
        access.record_denial(actor, AuditAction.ROLE_CHANGED, "user", user_id,
                             reason="grant_system_admin")
        errors = FormErrors()
        errors.status = 403
        errors.add("roles", _("Only the system administrator may grant this role."))
        return _user_page(user, errors=errors)
    if not roles or any(r not in _grantable_roles() for r in roles):
        errors = FormErrors()
        errors.add("roles", _("Choose at least one role."))
        return _user_page(user, errors=errors)
    with transaction(actor) as conn:
        actions.set_roles(conn, user, roles, actor=actor)
    flash(_("Roles of %(username)s saved.", username=user.username))
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/status")
@login_required
def change_status(user_id: int):
    actor, user = _managed_user(user_id, AuditAction.USER_DISABLED)
    wanted = request.form.get("status")
    if wanted not in ("disabled", "active"):
        errors = FormErrors()
        errors.status = 400
        errors.add("status", _("Choose whether the account is active or disabled."))
        return _user_page(user, errors=errors)
    if wanted == "disabled" and user.id == actor.user_id:
        errors = FormErrors()
        errors.status = 409
        errors.add("status", _("You cannot disable your own account."))
        return _user_page(user, errors=errors)
    with transaction(actor) as conn:
        if wanted == "disabled" and not user.disabled:
            actions.disable_user(conn, user, actor=actor)
            flash(_("%(username)s is disabled and signed out everywhere.", username=user.username))
        elif wanted == "active" and user.disabled:
            actions.enable_user(conn, user, actor=actor)
            flash(_("%(username)s can sign in again.", username=user.username))
    return redirect(url_for("admin.user", user_id=user_id))


# --- agencies (system admin) ---------------------------------------------------------------

def _agencies_page(*, errors: FormErrors | None = None, form=None):
    actor = access.require_system_admin(g.actor, AuditAction.AGENCIES_LISTED, "agency")
    with transaction(actor) as conn:
        agencies = queries.list_agencies(conn, None)
    status = errors.status if errors else 200
    return render_template("admin/agencies.html", agencies=agencies, kinds=AGENCY_KINDS,
                           errors=errors or {}, form=form or {}), status


@bp.get("/agencies")
@login_required
def agencies():
    return _agencies_page()


@bp.post("/agencies")
@login_required
def create_agency():
    actor = access.require_system_admin(g.actor, AuditAction.AGENCY_CREATED, "agency")
    form = request.form
    errors = FormErrors()
    code = required(form, errors, "code").lower()
    if code and not AGENCY_CODE.match(code):
        errors.add("code", _("Use 2 to 60 lower-case letters, digits or dashes."))
    name = required(form, errors, "name")
    kind = form.get("kind", "")
    if kind not in AGENCY_KINDS:
        errors.add("kind", _("Choose the kind of agency."))
    region = required(form, errors, "region")
    district = (form.get("district") or "").strip() or None
    if not errors:
        try:
            with transaction(actor) as conn:
                agency = actions.create_agency(conn, actor=actor, code=code, name=name, kind=kind,
                                               region_code=region, district_code=district)
        except QorgauError as exc:
            errors = from_error(exc, {"code": _("An agency with this code exists."),
                                      "region": _("No region with this code."),
                                      "district": _("No district with this code in this region.")})
        else:
            flash(_("Agency %(name)s registered.", name=agency.name))
            return redirect(url_for("admin.agencies"))
    return _agencies_page(errors=errors, form=dict(form.items()))


# --- region calendars, deadline policies, dead letters (system admin) -------------------------
# Their pages live in modules of their own, under /admin/regions and /admin/outbox.

from services.web import dead_letters, regions  # noqa: E402

bp.register_blueprint(regions.bp)
bp.register_blueprint(dead_letters.bp)
