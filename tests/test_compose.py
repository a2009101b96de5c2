"""docker-compose.yml describes the production topology, with health checks and no secret in it.

When a compose client is installed (``docker compose`` or ``docker-compose``), its ``config``
command validates the file; it needs no engine. The structural checks run either way, on the file
as PyYAML reads it, so the suite says the same thing on a machine without Docker.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVICES = {"postgres", "redis", "migrate", "web", "worker", "beat", "mailpit"}
APP_SERVICES = {"migrate", "web", "worker", "beat"}
REQUIRED_SECRETS = ("POSTGRES_PASSWORD", "APP_DB_PASSWORD", "SECRET_KEY", "AUDIT_SIGNING_KEY_FILE")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|_KEY$", re.IGNORECASE)
REQUIRED_INTERPOLATION = re.compile(r"^\$\{[A-Z_]+:\?[^}]*\}$")


def compose_cli() -> list[str] | None:
    """The compose client on this machine, or None when there is none."""
    for argv in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(argv[0]) is None:
            continue
        probe = subprocess.run(argv + ["version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return argv
    return None


@pytest.fixture(scope="module")
def compose() -> dict:
    """docker-compose.yml as PyYAML reads it (anchors and merge keys resolved)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture
def secret_env(tmp_path) -> dict[str, str]:
    """Environment with every required secret set to a throwaway value."""
    key_file = tmp_path / "audit-signing-key.pem"
    key_file.write_text("not a real key\n")
    return {
        "POSTGRES_PASSWORD": "pg-test-password",
        "APP_DB_PASSWORD": "app-test-password",
        "SECRET_KEY": "s" * 40,
        "AUDIT_SIGNING_KEY_FILE": str(key_file),
    }


def _run_config(cli: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in REQUIRED_SECRETS}
    return subprocess.run(
        cli + ["-f", str(COMPOSE_FILE), "config"],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120,
    )


def test_compose_client_accepts_the_file_when_one_is_installed(secret_env):
    cli = compose_cli()
    if cli is None:
        pytest.skip("no compose client (docker compose or docker-compose) on this machine; "
                    "the structural tests in this file still ran")
    result = _run_config(cli, secret_env)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert SERVICES <= set(resolved["services"])
    web_env = resolved["services"]["web"]["environment"]
    assert web_env["SECRET_KEY"] == secret_env["SECRET_KEY"]


def test_compose_refuses_to_start_without_each_secret(compose, secret_env):
    cli = compose_cli()
    for name in REQUIRED_SECRETS:
        assert re.search(r"\$\{" + name + r":\?", COMPOSE_FILE.read_text()), name
        if cli is not None:
            env = {k: v for k, v in secret_env.items() if k != name}
            result = _run_config(cli, env)
            assert result.returncode != 0, f"compose config succeeded without {name}"
            assert name in result.stderr


def test_every_service_of_the_topology_is_present(compose):
    assert SERVICES <= set(compose["services"])
    assert compose["services"]["postgres"]["image"].startswith("postgres:16")
    assert compose["services"]["redis"]["image"].startswith("redis:7")


def test_every_service_has_a_health_check(compose):
    for name, service in compose["services"].items():
        check = service.get("healthcheck") or {}
        assert not check.get("disable"), name
        assert check.get("test"), f"{name} has no health check"


def test_qorgau_processes_share_one_image_built_from_the_dockerfile(compose):
    images = {compose["services"][name]["image"] for name in APP_SERVICES}
    builds = {str(compose["services"][name]["build"]) for name in APP_SERVICES}
    assert len(images) == 1 and len(builds) == 1
    commands = {name: " ".join(compose["services"][name]["command"]) for name in APP_SERVICES}
    assert "gunicorn services.wsgi:app" in commands["web"]
    assert "workflows.celery_app:celery_app worker" in commands["worker"]
    assert "workflows.celery_app:celery_app beat" in commands["beat"]
    assert "upgrade" in commands["migrate"]


def test_web_worker_and_beat_wait_for_the_migration(compose):
    for name in ("web", "worker", "beat"):
        depends = compose["services"][name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name


def test_no_secret_is_written_into_the_file(compose):
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        for key, value in env.items():
            value = str(value)
            if "DATABASE_URL" in key and "@" in value:
                password = value.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
                assert not password or REQUIRED_INTERPOLATION.match(password), (name, key)
            elif SECRET_NAME.search(key) and not value.startswith("/run/secrets/"):
                assert REQUIRED_INTERPOLATION.match(value), f"{name}: {key} is not from the environment"


def test_audit_signing_key_is_mounted_as_a_secret_file(compose):
    assert "audit_signing_key" in compose["secrets"]
    assert REQUIRED_INTERPOLATION.match(compose["secrets"]["audit_signing_key"]["file"])
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert "audit_signing_key" in service["secrets"], name
        assert service["environment"]["AUDIT_SIGNING_KEY"] == "/run/secrets/audit_signing_key"


def test_image_runs_as_a_non_root_user_with_pinned_dependencies():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert "-c constraints.txt" in dockerfile
    assert "pybabel compile" in dockerfile
