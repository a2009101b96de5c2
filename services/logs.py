"""Structured JSON logs; every line of a request or task carries its request id."""
from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, g, request

from audit import context as audit_context

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": audit_context.current().request_id,
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's output to stderr as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def new_request_id() -> str:
    return uuid.uuid4().hex


def init_app(app: Flask) -> None:
    """Give each request an id (or accept a sane X-Request-Id) and log one line per request."""
    configure_logging(app.config["QORGAU_SETTINGS"].log_level)
    log = logging.getLogger("qorgau.request")

    @app.before_request
    def _start():
        incoming = request.headers.get("X-Request-Id", "")
        rid = incoming if incoming.isalnum() and 8 <= len(incoming) <= 64 else new_request_id()
        request.request_id = rid
        g.started = time.perf_counter()
        g.audit_token = audit_context.set_context(audit_context.AuditContext(
            request_id=rid,
            client_addr=request.remote_addr,
            user_agent=(request.user_agent.string or "")[:300] or None,
            channel="api" if request.path.startswith("/api/") else "web",
        ))

    @app.after_request
    def _finish(response):
        rid = getattr(request, "request_id", None)
        if rid:
            response.headers["X-Request-Id"] = rid
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info("request", extra={"method": request.method, "path": request.path,
                                   "status": response.status_code, "ms": round(elapsed, 2)})
        return response
