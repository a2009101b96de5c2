"""``flask audit ...``: verify the log, write and export checkpoints, check one, make a key.

Verification reads with the administrative ``DATABASE_URL`` (or ``--database-url``, e.g. a
login role granted ``qorgau_auditor``), never as the application role: it must see every event
whatever row-level security would show an actor, and it must not depend on the role whose
writes it is checking. Writing and exporting checkpoints go through the application's pool as
Qorgau's system actor, like the beat task.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from audit import Actor, checkpoints, maintenance, signing
from audit.verify import Report, verify, verify_checkpoint

audit_cli = AppGroup("audit", help="The tamper-evident audit log.")
CLI_ACTOR = Actor.system("cli")
SHOWN = 50  # problems listed in full; a badly damaged log has thousands


def _settings():
    return current_app.config["QORGAU_SETTINGS"]


def _public_key(path: str | None, *, required: bool):
    """The verification key: ``path``, else the configured key's ``.pub``, else None."""
    if path:
        return signing.load_public_key(path)
    configured = _settings().audit_signing_key
    if configured:
        for candidate in (signing.public_path(configured), Path(configured)):
            if candidate.exists():
                return signing.load_public_key(candidate)
    if required:
        raise click.UsageError("no public key: pass --public-key or set AUDIT_SIGNING_KEY")
    return None


class _Progress:
    """A click progress bar opened once the number of events to check is known."""

    def __init__(self, label: str):
        self.label, self.bar = label, None

    def start(self, total: int) -> None:
        self.bar = click.progressbar(length=max(total, 1), label=self.label,
                                     file=sys.stderr)
        self.bar.__enter__()

    def advance(self, n: int) -> None:
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _print(report: Report) -> None:
    click.echo(f"{report.events} events in {report.chains} chains, "
               f"{report.checkpoints} checkpoints checked"
               + ("" if report.signatures_checked else " (signatures NOT checked: no public key)"))
    if report.ok:
        click.echo("OK: every chain and checkpoint verifies")
        return
    first = report.first_bad_event
    if first is not None:
        click.echo(f"FIRST BAD EVENT: {first.event_id} (chain {first.chain}, seq {first.seq}): "
                   f"{first.kind}")
    for problem in report.problems[:SHOWN]:
        click.echo(f"  {problem}")
    if len(report.problems) > SHOWN:
        click.echo(f"  ... and {len(report.problems) - SHOWN} more problems")
    click.get_current_context().exit(1)


@audit_cli.command("verify")
@click.option("--since", type=int, default=None, metavar="CHECKPOINT_ID",
              help="Start from this checkpoint, trusting what it signed.")
@click.option("--workers", type=int, default=None, help="Processes (default: one per CPU).")
@click.option("--public-key", type=click.Path(dir_okay=False), default=None,
              help="Ed25519 public key (default: AUDIT_SIGNING_KEY + .pub).")
@click.option("--database-url", default=None, help="Read as this role (default: DATABASE_URL).")
def verify_command(since, workers, public_key, database_url):
    """Recompute every chain and checkpoint and name the first bad event."""
    progress = _Progress("Verifying audit chains")
    try:
        report = verify(database_url or _settings().database_url, since=since, workers=workers,
                        public_key=_public_key(public_key, required=False),
                        on_plan=progress.start, on_progress=progress.advance)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        progress.close()
    _print(report)


@audit_cli.command("checkpoint")
def checkpoint_command():
    """Sign a checkpoint over the events recorded since the last one."""
    from services.db import transaction

    try:
        with transaction(CLI_ACTOR) as conn:
            signed = maintenance.checkpoint_now(conn, _settings().audit_signing_key)
    except (signing.SigningKeyError, checkpoints.CheckpointRefused) as exc:
        raise click.ClickException(str(exc)) from exc
    if signed is None:
        click.echo("nothing new to sign")
        return
    cp = signed.checkpoint
    click.echo(f"checkpoint {cp.id}: {cp.tree_size} events, root {cp.root_hash.hex()}")


@audit_cli.command("export-checkpoint")
@click.argument("checkpoint_id", type=int)
@click.argument("file", type=click.File("w"), default="-")
def export_checkpoint_command(checkpoint_id, file):
    """Write checkpoint CHECKPOINT_ID as JSON to FILE (default: standard output)."""
    from services.db import transaction

    with transaction(CLI_ACTOR) as conn:
        signed = checkpoints.load(conn, checkpoint_id)
    if signed is None:
        raise click.ClickException(f"there is no checkpoint {checkpoint_id}")
    file.write(checkpoints.export_json(signed))


@audit_cli.command("verify-checkpoint")
@click.argument("file", type=click.File("r"))
@click.option("--public-key", type=click.Path(dir_okay=False), default=None,
              help="The Ed25519 public key you trust (default: AUDIT_SIGNING_KEY + .pub).")
@click.option("--workers", type=int, default=None, help="Processes (default: one per CPU).")
@click.option("--database-url", default=None, help="Read as this role (default: DATABASE_URL).")
def verify_checkpoint_command(file, public_key, workers, database_url):
    """Check an exported checkpoint FILE against the database with the public key."""
    try:
        signed = checkpoints.import_json(file.read())
        key = _public_key(public_key, required=True)
    except (checkpoints.CheckpointFormatError, signing.SigningKeyError) as exc:
        raise click.ClickException(str(exc)) from exc
    progress = _Progress(f"Recomputing checkpoint {signed.checkpoint.id}")
    try:
        report = verify_checkpoint(database_url or _settings().database_url, signed, key,
                                   workers=workers, on_plan=progress.start,
                                   on_progress=progress.advance)
    finally:
        progress.close()
    cp = signed.checkpoint
    click.echo(f"checkpoint {cp.id} of log {cp.log_id}: {cp.tree_size} events, "
               f"root {cp.root_hash.hex()}, signed by key {cp.key_id}")
    _print(report)


@audit_cli.command("keygen", with_appcontext=False)
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing key (old checkpoints then need "
                                            "the old public key).")
def keygen_command(path, force):
    """Create an Ed25519 signing key at PATH and its public key at PATH.pub."""
    try:
        private, public = signing.generate_key(path, overwrite=force)
    except signing.SigningKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    key_id = signing.key_id(signing.load_public_key(public))
    click.echo(f"private key {private} (keep it off the database host's backups)")
    click.echo(f"public key  {public} (key id {key_id}; give it to whoever checks checkpoints)")
