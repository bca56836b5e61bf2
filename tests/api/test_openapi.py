"""The OpenAPI document is valid, covers every route, and the live app honours it."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.urls import URLPattern, get_resolver
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jobs import tokens
from jobs.api import openapi
from jobs.api.urls import urlpatterns
from tests.factories import local_job

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 6


def test_document_is_valid_openapi() -> None:
    validate(openapi.document())


def test_every_api_route_is_documented() -> None:
    documented = set(openapi.document()["paths"])
    routes = {
        "/api/v1/"
        + str(p.pattern).replace("<uuid:public_id>", "{id}").replace("<int:index>", "{index}")
        for p in urlpatterns
        if isinstance(p, URLPattern) and p.name not in {"openapi", "docs", "not_found"}
    }
    assert routes == documented
    assert get_resolver().resolve("/api/v1/openapi.json").url_name == "openapi"


@pytest.mark.django_db
def test_document_is_served_without_a_token(client: Any) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"] == "3.1.0"


@pytest.mark.django_db
def test_docs_page_lists_every_operation(client: Any) -> None:
    page = client.get("/api/v1/docs").content.decode()
    for op in openapi.operations():
        assert op["path"] in page
    assert "results/0/file" in page  # the curl example downloads a result


@pytest.mark.django_db(transaction=True)
def test_schemathesis_against_the_live_app(
    live_server: Any, user: Any, team: Any, settings: Any
) -> None:
    """A bounded, deterministic property-based run: every operation, a few examples each."""
    settings.API_RATE_LIMIT_PER_MINUTE = 100_000
    job = local_job(team, user, run=True)  # so there is a job with a result to read
    _token, raw = tokens.create_token(user, team, "schemathesis")
    headers = {"Authorization": f"Bearer {raw}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    calls: list[int] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _explore(operation, mode, live_server.url, headers, calls, str(job.public_id))
    assert len(calls) >= len(operations)
    assert any(status == 200 for status in calls)


def _explore(
    operation: Any, mode: Any, base_url: str, headers: dict, calls: list, job_id: str
) -> None:
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        if "id" in (case.path_parameters or {}) and len(calls) % 2:
            case.path_parameters["id"] = job_id  # half the time, a job that exists
        response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
        calls.append(response.status_code)

    check()
