"""Which message broker Celery uses, and whether it answers.

Two kinds are supported: Redis (production, ``docker-compose.yml``) and kombu's filesystem
transport, an embedded fallback for one machine that needs no server. ``make run`` decides once,
with ``broker_url``, and hands the answer to every process it starts as ``BROKER_URL``. A process
never falls back on its own: a web, worker and beat that each decided separately could end up on
different brokers, and tasks published to one would never be consumed from the other.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from services.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FILESYSTEM = "filesystem://"

# Tasks are acknowledged late, so Redis redelivers a task whose worker vanished once this many
# seconds have passed; task time limits (workflows/celery_app.py) are kept well below it so a
# slow but live task is never delivered twice.
VISIBILITY_TIMEOUT = 3600


class BrokerUnavailable(RuntimeError):
    """The configured broker did not answer; the message says which and why, without secrets."""


def filesystem_url(folder: Path) -> str:
    """The ``BROKER_URL`` naming the embedded broker whose messages live under ``folder``."""
    return FILESYSTEM + str(Path(folder).resolve())


def configured_url(settings: Settings) -> str:
    """The broker this process must use: ``BROKER_URL``/``REDIS_URL``, else the embedded one."""
    return settings.broker_url or settings.redis_url or filesystem_url(ROOT / "var" / "broker")


def broker_url(settings: Settings) -> str:
    """Redis if it is configured and answers, otherwise the embedded broker (``make run``)."""
    url = configured_url(settings)
    if not is_redis(url):
        return url
    try:
        ping_redis(url)
    except BrokerUnavailable:
        return filesystem_url(ROOT / "var" / "broker")
    return url


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://"))


def is_filesystem(url: str) -> bool:
    return url.startswith(FILESYSTEM)


def _folder(url: str) -> Path:
    path = url[len(FILESYSTEM):]
    return Path(path) if path else ROOT / "var" / "broker"


def celery_options(url: str) -> dict:
    """Celery settings for ``url``: the broker URL and its transport options."""
    if is_filesystem(url):
        folder = _folder(url)
        queue, processed, control = folder / "queue", folder / "processed", folder / "control"
        for path in (queue, processed, control):
            path.mkdir(parents=True, exist_ok=True)
        return {
            "broker_url": FILESYSTEM,
            "broker_transport_options": {
                # One folder for both directions makes it a single shared queue store.
                "data_folder_in": str(queue),
                "data_folder_out": str(queue),
                "processed_folder": str(processed),
                "control_folder": str(control),
                "store_processed": False,
            },
        }
    options: dict = {"broker_url": url}
    if is_redis(url):
        options["broker_transport_options"] = {"visibility_timeout": VISIBILITY_TIMEOUT}
    return options


def describe(url: str) -> str:
    """A one-line description of the broker at ``url``, with any password removed."""
    if is_filesystem(url):
        return f"embedded filesystem broker in {_folder(url)}"
    kind = "Redis" if is_redis(url) else "broker"
    return f"{kind} at {_redact(url)}"


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def ping(settings: Settings, timeout: float = 2.0) -> str:
    """Check that the configured broker answers; return its description or raise BrokerUnavailable."""
    url = configured_url(settings)
    if is_redis(url):
        ping_redis(url, timeout)
    elif is_filesystem(url):
        _check_folder(_folder(url))
    else:
        _ping_kombu(url, timeout)
    return describe(url)


def ping_redis(url: str, timeout: float = 1.0) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise BrokerUnavailable(f"{describe(url)} did not answer ({type(exc).__name__})") from exc
    finally:
        client.close()


def _check_folder(folder: Path) -> None:
    queue = folder / "queue"
    if not queue.is_dir():
        raise BrokerUnavailable(f"embedded broker folder {queue} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise BrokerUnavailable(f"embedded broker folder {queue} is not writable") from exc


def _ping_kombu(url: str, timeout: float) -> None:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # kombu raises transport-specific errors
        raise BrokerUnavailable(f"{describe(url)} did not answer ({type(exc).__name__})") from exc
