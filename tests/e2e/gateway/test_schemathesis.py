"""schemathesis against the running gateway's own OpenAPI schema: no 5xx, ever.

Cases are generated per operation from the served schema with schemathesis'
hypothesis strategies (its pytest plugin does not load under this pytest version, so
the loop is explicit). Examples per operation are kept small: the file runs in well
under a minute. The gateway runs on the scripted vLLM stand-in, so generated
requests that pass validation exercise real code paths without a model.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.e2e.gateway.conftest import Gateway

EXAMPLES = 12


def test_no_server_errors(scripted_gateway: Gateway) -> None:
    gw = scripted_gateway
    schema = schemathesis.openapi.from_url(f"{gw.url}/openapi.json")
    seen: list[str] = []
    failures: list[str] = []
    statuses: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        seen.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=gw.headers, timeout=30)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> "
                                f"{response.status_code} {response.text[:300]}")
            elif response.status_code >= 400:
                assert {"message", "type", "code"} <= set(response.json()["error"])

        check()
    assert "POST /v1/reason" in seen and "POST /v1/chat/completions" in seen
    assert failures == []
    assert len(statuses) >= len(seen) and any(s < 300 for s in statuses), statuses
