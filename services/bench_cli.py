"""``flask bench generate``: fill a freshly migrated database with a synthetic national data set.

The generator lives in ``bench/`` beside the benchmarks that use it (it is not part of the
installed application); this command only parses options and shows progress.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

bench_cli = AppGroup("bench", help="Benchmark data sets (bench/).")


class _Bars:
    """One click progress bar per stage of the generator."""

    def __init__(self):
        self.bar = None

    def stage(self, label: str, total: int) -> None:
        self.done()
        self.bar = click.progressbar(length=max(total, 1), label=f"{label:<14}", show_pos=True,
                                     show_percent=True, show_eta=True, file=sys.stderr)
        self.bar.__enter__()

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@bench_cli.command("generate")
@click.option("--children", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option("--referrals", type=click.IntRange(min=0), default=4_400_000, show_default=True)
@click.option("--audit-events", type=click.IntRange(min=0), default=50_000_000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day the data set ends (UTC midnight); default: today.")
@click.option("--years", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="How many years of referrals before --as-of.")
def generate_command(children, referrals, audit_events, seed, as_of, years):
    """Generate children, referrals, cases and chained audit events with COPY (empty database)."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench.generate import Plan, generate

    kwargs = {}
    if as_of is not None:
        kwargs["as_of"] = as_of.replace(tzinfo=timezone.utc)
    plan = Plan(children=children, referrals=referrals, audit_events=audit_events, seed=seed,
                years=years, **kwargs)
    url = current_app.config["QORGAU_SETTINGS"].database_url
    started = datetime.now(timezone.utc)
    try:
        result = generate(url, plan, _Bars())
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    for table, rows in result["counts"].items():
        click.echo(f"{table:<22} {rows:>12,}")
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in result["timings"].items())
    click.echo(f"generated in {result['timings']['total']:.1f} s ({timings}); started {started:%H:%M:%S} UTC")
