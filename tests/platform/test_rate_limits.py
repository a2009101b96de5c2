"""Sign-in endpoints are throttled per client address (Flask-Limiter; Redis in production)."""
from __future__ import annotations

import uuid



def test_token_endpoint_is_rate_limited_per_address(app, client):
    addr = {"REMOTE_ADDR": f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"}
    settings = app.config["QORGAU_SETTINGS"]
    app.config["QORGAU_SETTINGS"] = settings.with_(sign_in_rate_limit="10 per minute")
    try:
        answers = [client.post("/api/v1/auth/token",
                               json={"username": f"nobody.{i}.{uuid.uuid4().hex[:6]}", "password": "wrong"},
                               environ_base=addr).status_code for i in range(12)]
        other = client.post("/api/v1/auth/token", json={"username": "nobody.z", "password": "wrong"},
                            environ_base={"REMOTE_ADDR": "10.255.255.1"}).status_code
    finally:
        app.config["QORGAU_SETTINGS"] = settings
    assert answers[:10] == [401] * 10
    assert answers[10:] == [429, 429]
    assert other == 401
