"""Celery runs tasks inside the Flask app, carries the request id, and keeps the schedule."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from celery.schedules import crontab

from audit import context as audit_context
from services import broker
from workflows.celery_app import CONFIG, task_modules
from workflows.schedule import beat_schedule

ROOT = Path(__file__).resolve().parent.parent


def test_tasks_are_acknowledged_late_one_at_a_time_with_json_only():
    assert CONFIG["task_acks_late"] and CONFIG["task_reject_on_worker_lost"]
    assert CONFIG["worker_prefetch_multiplier"] == 1
    assert CONFIG["task_serializer"] == "json" and CONFIG["accept_content"] == ["json"]
    assert CONFIG["task_ignore_result"]


def test_time_limits_stay_well_below_the_redis_visibility_timeout():
    soft, hard = CONFIG["task_soft_time_limit"], CONFIG["task_time_limit"]
    assert soft < hard <= broker.VISIBILITY_TIMEOUT / 4


def test_beat_schedule_holds_the_audit_jobs():
    tasks = {entry["task"]: entry["schedule"] for entry in beat_schedule.values()}
    assert tasks["audit.checkpoint"] == timedelta(seconds=60)
    daily = tasks["audit.ensure_partitions"]
    assert isinstance(daily, crontab) and daily.hour == {0} and daily.day_of_week == set(range(7))
    assert CONFIG["beat_schedule"] is beat_schedule


def test_worker_imports_every_task_module_of_the_workflows_package():
    modules = task_modules()
    assert CONFIG["imports"] == modules
    assert "workflows.celery_app" not in modules and "workflows.schedule" not in modules
    if (ROOT / "workflows" / "audit.py").exists():
        assert "workflows.audit" in modules


@pytest.fixture
def worker(settings, tmp_path):
    """A Celery worker on an embedded broker in ``tmp_path``, bound to the test database."""
    url = broker.filesystem_url(tmp_path / "broker")
    broker.celery_options(url)
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "BROKER_URL"}}
    env.update(
        DATABASE_URL=settings.database_url,
        SECRET_KEY=settings.secret_key,
        BROKER_URL=url,
        BASE_URL="http://localhost",
        COOKIE_SECURE="false",
        LOG_LEVEL="INFO",
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workflows.celery_app:celery_app", "worker",
             "--include", "tests.celery_probe", "--pool", "solo", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    yield url, proc, log
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_worker_runs_tasks_in_the_app_with_the_request_id_that_published_them(worker, tmp_path):
    url, proc, log = worker
    publisher = Celery("publisher")
    publisher.conf.update(broker.celery_options(url))
    out = tmp_path / "context.json"
    with audit_context.bound(audit_context.AuditContext(request_id="feedc0ffee42", channel="web")):
        publisher.send_task("tests.record_task_context", args=[str(out)])
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-4000:]
        time.sleep(0.3)
    assert out.exists(), log.read_text()[-4000:]
    assert json.loads(out.read_text()) == {
        "request_id": "feedc0ffee42", "channel": "task", "app_context": True, "has_settings": True,
    }
    banner = log.read_text()
    assert ". audit.checkpoint" in banner and ". audit.ensure_partitions" in banner
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "feedc0ffee42" for line in lines)
