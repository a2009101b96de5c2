"""No request produces a 500: Schemathesis generates requests from the OpenAPI document, valid and
invalid, for every documented operation, and every answer must be below 500 (4xx as a problem
document). New endpoints are covered as soon as they are documented."""
from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.platform.helpers import token_for

EXAMPLES = int(os.environ.get("QORGAU_FUZZ_EXAMPLES", "6"))  # QORGAU_LONG runs use more


def test_no_request_produces_a_500(app, world):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    token = token_for(app.test_client(), world.users["caseworker"])
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8

    for operation in operations:
        headers = {} if operation.path == "/api/v1/auth/token" else {"Authorization": f"Bearer {token}"}

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(headers=headers)
            content_type = response.headers.get("Content-Type") or response.headers.get("content-type") or ""
            if isinstance(content_type, list):
                content_type = content_type[0]
            if response.status_code >= 500 or (response.status_code >= 400
                                               and not content_type.startswith("application/problem+json")):
                failures.append((case.method, case.path, response.status_code, response.text[:300]))

        check()
    assert not failures, failures[:5]
