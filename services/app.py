"""The application factory: a table of contents of what Qorgau's web side is made of."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask

from services import cli, db, i18n, logs, security
from services.auth import current
from services.errors import register_error_handlers
from services.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Create the Flask app from ``settings`` (default: the environment)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder="templates", static_folder="static")
    configure(app, settings)
    logs.init_app(app)  # JSON logs carrying the request id
    db.init_app(app)  # the psycopg pool, as the application role
    i18n.init_app(app)  # Kazakh, Russian, English
    security.init_app(app)  # CSRF, rate limits, security headers
    current.init_app(app)  # who is asking: session cookie or Bearer token
    register_blueprints(app)
    register_error_handlers(app)
    cli.init_app(app)  # flask db / agencies / users / demo / audit
    return app


def configure(app: Flask, settings: Settings) -> None:
    """Copy settings into Flask's config under the names its extensions read."""
    app.config.update(
        QORGAU_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        SESSION_COOKIE_NAME="__Host-qorgau" if settings.cookie_secure else "qorgau",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_absolute_hours),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        JSON_SORT_KEYS=False,
    )


def register_blueprints(app: Flask) -> None:
    """Web pages, the JSON API and operations endpoints."""
    from services.api import views as api_views
    from services.auth import views as auth_views
    from services.agencies import views as agency_views
    from services.auditing import views as audit_views
    from services.children import views as children_views
    from services.referrals import views as referrals_views
    from services.web import views as web_views
    from services.web import admin as admin_pages, assets, cases as case_pages, children as child_pages
    from services.web import reports as report_pages, supervisor as supervisor_pages
    from services.web import escalations as escalation_pages, referrals as referral_pages
    from services import health
    from services.approvals import views as approval_views
    from services.cases import views as case_views
    from services.grants import views as grant_views

    app.register_blueprint(health.bp)
    app.register_blueprint(web_views.bp)
    app.register_blueprint(assets.bp)
    app.register_blueprint(admin_pages.bp)
    app.register_blueprint(case_pages.bp)
    app.register_blueprint(child_pages.bp)
    app.register_blueprint(supervisor_pages.bp)
    app.register_blueprint(report_pages.bp)
    app.register_blueprint(referral_pages.bp)
    app.register_blueprint(escalation_pages.bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(auth_views.api_bp)
    app.register_blueprint(agency_views.api_bp)
    app.register_blueprint(audit_views.api_bp)
    app.register_blueprint(case_views.api_bp)
    app.register_blueprint(approval_views.api_bp)
    app.register_blueprint(grant_views.api_bp)
    app.register_blueprint(children_views.api_bp)
    app.register_blueprint(referrals_views.api_bp)
    app.register_blueprint(api_views.bp)
    from services.statistics import views as statistics_views
    from services.web import statistics as statistics_pages

    app.register_blueprint(statistics_views.api_bp)
    app.register_blueprint(statistics_pages.bp)
    # Clocks: deadlines, escalations, disagreements, notifications (and `flask outbox relay`).
    from services.clocks import admin_views as clock_admin_views, views as clock_views
    from services.notifications import views as notification_views

    app.register_blueprint(clock_views.api_bp)
    app.register_blueprint(clock_admin_views.api_bp)
    app.register_blueprint(notification_views.api_bp)
    app.register_blueprint(notification_views.outbox_bp)
