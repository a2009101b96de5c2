"""Command-line tools (``flask --app services.app:create_app ...``): db, agencies, users, demo, audit, bench."""
from __future__ import annotations

import os

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from audit import Actor
from audit.cli import audit_cli
from services import demo
from services.bench_cli import bench_cli
from services.agencies import actions, queries
from services.db import transaction
from services.errors import QorgauError

db_cli = AppGroup("db", help="Database schema.")
agencies_cli = AppGroup("agencies", help="Regions, districts and agencies.")
users_cli = AppGroup("users", help="User accounts.")
demo_cli = AppGroup("demo", help="The demo world.")


def _fail(exc: QorgauError):
    raise click.ClickException(f"{exc.field + ': ' if exc.field else ''}{exc.detail}")


@db_cli.command("upgrade")
def db_upgrade():
    """Apply every migration (as the administrative DATABASE_URL role)."""
    from services.migrate import upgrade

    upgrade(current_app.config["QORGAU_SETTINGS"].database_url)
    click.echo("database is at the latest revision")


@agencies_cli.command("create-region")
@click.option("--code", required=True)
@click.option("--name", required=True)
def create_region(code, name):
    with transaction(Actor.system("cli")) as conn:
        try:
            region_id = actions.create_region(conn, actor=Actor.system("cli"), code=code, name=name)
        except QorgauError as exc:
            _fail(exc)
    click.echo(f"region {code} created (id {region_id})")


@agencies_cli.command("create-district")
@click.option("--region", "region_code", required=True)
@click.option("--code", required=True)
@click.option("--name", required=True)
def create_district(region_code, code, name):
    with transaction(Actor.system("cli")) as conn:
        region = queries.get_region_by_code(conn, region_code)
        if region is None:
            raise click.ClickException(f"region: no region {region_code!r}")
        try:
            actions.create_district(conn, actor=Actor.system("cli"), region_id=region["id"], code=code, name=name)
        except QorgauError as exc:
            _fail(exc)
    click.echo(f"district {code} created")


@agencies_cli.command("create")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--kind", required=True, type=click.Choice(
    ["school", "social_services", "police", "health", "psychology", "prosecutor", "ngo"]))
@click.option("--region", required=True, help="region code")
@click.option("--district", default=None, help="district code")
def create_agency(code, name, kind, region, district):
    """Register an agency."""
    with transaction(Actor.system("cli")) as conn:
        try:
            agency = actions.create_agency(conn, actor=Actor.system("cli"), code=code, name=name,
                                           kind=kind, region_code=region, district_code=district)
        except QorgauError as exc:
            _fail(exc)
    click.echo(f"agency {agency.code} created (id {agency.id})")


@users_cli.command("create")
@click.option("--agency", "agency_code", required=True, help="agency code")
@click.option("--username", required=True)
@click.option("--full-name", required=True)
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(
    ["caseworker", "supervisor", "oversight", "council", "agency_admin", "system_admin"]))
@click.option("--language", default="ru", type=click.Choice(["kk", "ru", "en"]))
@click.option("--email", default=None)
@click.password_option(envvar="QORGAU_NEW_PASSWORD")
def create_user(agency_code, username, full_name, roles, language, email, password):
    """Create a user; roles needing MFA enrol TOTP at their first sign-in."""
    with transaction(Actor.system("cli")) as conn:
        agency = queries.get_agency_by_code(conn, agency_code)
        if agency is None:
            raise click.ClickException(f"agency: no agency {agency_code!r}")
        try:
            user = actions.create_user(conn, actor=Actor.system("cli"), agency_id=agency.id,
                                       username=username, full_name=full_name, password=password,
                                       roles=list(roles), email=email, preferred_language=language)
        except QorgauError as exc:
            _fail(exc)
    click.echo(f"user {user.username} created (id {user.id})")


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="do nothing when any user exists")
def demo_load(if_empty):
    """Load the Mangystau demo world (idempotent)."""
    with transaction(Actor.system("demo-loader")) as conn:
        if if_empty and queries.count_users(conn) > 0:
            click.echo("database already has users; demo world not loaded")
            return
        result = demo.load(conn, password=os.environ.get("DEMO_PASSWORD") or None)
    click.echo(f"demo world ready ({result['created']} users created); log-ins in {result['path']}")


def init_app(app: Flask) -> None:
    """Register every command group on ``app``."""
    for group in (db_cli, agencies_cli, users_cli, demo_cli, audit_cli, bench_cli):
        app.cli.add_command(group)
