"""The OpenAPI 3.1 document of API v1, served at /api/v1/openapi.json.

Built from the same enums and registries the API uses (job statuses, provider slugs), so
it cannot drift from them. tests/api checks it with openapi-spec-validator and runs
schemathesis against the live app with it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jobs.api.views import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from jobs.models import ErrorKind, JobStatus
from jobs.providers.registry import PROVIDERS

VERSION = "1.0.0"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema["type"]
    return {**schema, "type": [kind, "null"]}


def obj(required: list[str] | None = None, /, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    return schema


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
DATETIME = {"type": "string", "format": "date-time"}
ANY_OBJECT = {"type": "object", "additionalProperties": True}


# ----- schemas ----------------------------------------------------------------------------
def _money() -> dict[str, Any]:
    schema = obj(
        ["usd_micros", "usd"],
        usd_micros={**INTEGER, "description": "US dollars × 1,000,000 (exact)"},
        usd={**STRING, "description": "The same amount as a decimal string", "examples": ["0.012"]},
        credits={**STRING, "description": "In the provider's own credits, where it has them"},
    )
    return schema


def _job() -> dict[str, Any]:
    source = obj(
        name=STRING,
        width=INTEGER,
        height=INTEGER,
        format=STRING,
        size_bytes=INTEGER,
    )
    error = obj(
        kind={"type": "string", "enum": [*[k for k in ErrorKind.values if k], "unknown"]},
        message=STRING,
        provider_message=STRING,
    )
    return obj(
        id={"type": "string", "format": "uuid"},
        url={**STRING, "format": "uri", "description": "This job in the API"},
        web_url={**STRING, "format": "uri", "description": "This job in the dashboard"},
        status={"type": "string", "enum": list(JobStatus.values)},
        status_label=STRING,
        finished={**BOOLEAN, "description": "True once the status will not change any more"},
        provider={"type": "string", "enum": list(PROVIDERS)},
        options=ANY_OBJECT,
        batch=obj(id=nullable(INTEGER), comparison=BOOLEAN),
        source=nullable(source),
        source_ref=nullable(ANY_OBJECT),
        attempts=INTEGER,
        error=nullable(error),
        estimate=ref("Money"),
        cost={**ref("Money"), "description": "Charged minus refunded so far"},
        created_at=DATETIME,
        started_at=nullable(DATETIME),
        finished_at=nullable(DATETIME),
        results={"type": "array", "items": ref("Result")},
    )


def _result() -> dict[str, Any]:
    return obj(
        index=INTEGER,
        width={**INTEGER, "description": "Pixels"},
        height={**INTEGER, "description": "Pixels"},
        format=STRING,
        size_bytes=INTEGER,
        withheld={**BOOLEAN, "description": "The provider withheld this image as unsafe"},
        download_url={
            **nullable({"type": "string", "format": "uri"}),
            "description": "Works without a token until download_expires_at, and with the "
            "token any time (drop the signature parameter then).",
        },
        download_expires_at=nullable(DATETIME),
    )


def _budget_effect() -> dict[str, Any]:
    return obj(
        budget={**STRING, "description": 'How people name it, e.g. "Ideogram budget"'},
        scope={"type": "string", "enum": ["team", "provider", "user"]},
        provider=nullable(STRING),
        user=nullable(STRING),
        limit=ref("Money"),
        used_this_month=ref("Money"),
        remaining=ref("Money"),
        percent_used=INTEGER,
        warning={**BOOLEAN, "description": "At or past the budget's warning threshold"},
    )


def _option() -> dict[str, Any]:
    return obj(
        ["name", "label", "type", "default"],
        name=STRING,
        label=STRING,
        type={"type": "string", "enum": ["choice", "int", "float", "bool", "text"]},
        default={"description": "Used when the option is left out (may be null)"},
        choices={"type": "array", "items": {}},
        minimum={"type": "number"},
        maximum={"type": "number"},
        help=STRING,
        required=BOOLEAN,
    )


def _provider() -> dict[str, Any]:
    kinds = {"type": "string", "enum": ["upload", "public_url", "reference"]}
    limits = obj(
        formats={"type": "array", "items": STRING},
        max_bytes=nullable(INTEGER),
        max_width=nullable(INTEGER),
        max_height=nullable(INTEGER),
    )
    account = obj(needed=BOOLEAN, configured=BOOLEAN, sandbox=BOOLEAN)
    return obj(
        slug={"type": "string", "enum": list(PROVIDERS)},
        name=STRING,
        summary=STRING,
        is_async=BOOLEAN,
        input_kinds={"type": "array", "items": kinds},
        takes={"type": "array", "items": STRING},
        cannot_take={"type": "array", "items": STRING},
        options={"type": "array", "items": ref("Option")},
        reference_fields={"type": "array", "items": ref("Option")},
        limits=limits,
        account=account,
    )


def _spend() -> dict[str, Any]:
    def row(key: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "allOf": [ref("Money"), obj([key, "jobs"], **{key: schema}, jobs=INTEGER)],
        }

    return obj(
        period=obj(
            **{"from": {"type": "string", "format": "date"}},
            to={"type": "string", "format": "date"},
            time_zone=STRING,
        ),
        total=ref("Money"),
        by_provider={"type": "array", "items": row("provider", STRING)},
        by_user={"type": "array", "items": row("user", nullable(STRING))},
        by_day={
            "type": "array",
            "items": {"allOf": [ref("Money"), obj(day={"type": "string", "format": "date"})]},
            "description": "Every day of the period, including days with no spend",
        },
    )


def _error() -> dict[str, Any]:
    return obj(
        error=obj(
            code={**STRING, "description": "Stable, for programs: e.g. budget_exceeded"},
            message={**STRING, "description": "Plain words, for people"},
            details=ANY_OBJECT,
        )
    )


def schemas() -> dict[str, Any]:
    return {
        "Error": _error(),
        "Money": _money(),
        "Result": _result(),
        "Job": _job(),
        "JobList": obj(
            jobs={"type": "array", "items": ref("Job")},
            count=INTEGER,
            page=INTEGER,
            page_size=INTEGER,
            pages=INTEGER,
            next=nullable({"type": "string", "format": "uri"}),
            previous=nullable({"type": "string", "format": "uri"}),
        ),
        "JobsCreated": obj(
            batch=obj(id=nullable(INTEGER), comparison=BOOLEAN),
            jobs={"type": "array", "items": ref("Job")},
            estimate={**ref("Money"), "description": "Held against budgets until jobs finish"},
            budgets={"type": "array", "items": ref("BudgetEffect")},
        ),
        "BudgetEffect": _budget_effect(),
        "Option": _option(),
        "Provider": _provider(),
        "ProviderList": obj(providers={"type": "array", "items": ref("Provider")}),
        "Spend": _spend(),
    }


# ----- operations -------------------------------------------------------------------------
ERRORS = {
    400: "The request is wrong; `error.details.field` names the part to fix",
    401: "No token, a mistyped token, or a revoked one",
    402: "A budget refuses the batch; nothing was queued",
    403: "The token's role may not do this (viewers cannot submit or cancel)",
    404: "No such job or result in this token's team",
    405: "This method is not supported here",
    409: "The job cannot be canceled (already finished, or busy at the provider)",
    413: "The form fields or JSON body are too large (send images as file parts)",
    415: "Send multipart/form-data or application/json",
    429: "Too many requests for this token; wait Retry-After seconds",
}
RATE_HEADERS = {
    "X-RateLimit-Limit": {"schema": INTEGER, "description": "Requests allowed per minute"},
    "X-RateLimit-Remaining": {"schema": INTEGER, "description": "Left in this minute"},
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def responses(ok: int, schema: str | None, description: str, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {str(ok): {"description": description}}
    if schema:
        out[str(ok)].update(content=_json(ref(schema)), headers=RATE_HEADERS)
    for status in sorted({401, 405, 429, *errors}):
        out[str(status)] = {"description": ERRORS[status], "content": _json(ref("Error"))}
    out["429"]["headers"] = {"Retry-After": {"schema": INTEGER, "description": "Seconds"}}
    return out


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


JOB_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
    "description": "The job's id (a UUID)",
}


def _list_jobs() -> dict[str, Any]:
    return {
        "operationId": "listJobs",
        "summary": "List the team's jobs, newest first",
        "parameters": [
            query("status", {"type": "string", "enum": list(JobStatus.values)}, "Only this status"),
            query("provider", {"type": "string", "enum": list(PROVIDERS)}, "Only this provider"),
            query("since", STRING, "Created at or after (ISO 8601 date or time)"),
            query("page", {**INTEGER, "minimum": 1}, "Page number, from 1"),
            query(
                "page_size",
                {**INTEGER, "minimum": 1, "maximum": MAX_PAGE_SIZE},
                f"Jobs per page (default {DEFAULT_PAGE_SIZE})",
            ),
        ],
        "responses": responses(200, "JobList", "One page of jobs", 400),
    }


def _create_jobs() -> dict[str, Any]:
    provider = {"type": "string", "enum": list(PROVIDERS), "description": "Provider slug"}
    providers = {"anyOf": [provider, {"type": "array", "items": provider, "minItems": 1}]}
    multipart = obj(
        ["provider"],
        image={"type": "string", "format": "binary", "description": "The image to upscale"},
        provider={**STRING, "description": "A provider slug, or several separated by commas"},
        options={**STRING, "description": 'Options as a JSON object, e.g. {"scale": 4}'},
        source_url={**STRING, "description": "Instead of `image`: a public http(s) URL"},
        source_ref={**STRING, "description": "Instead of `image`: a provider reference (JSON)"},
    )
    body = obj(
        ["provider"],
        provider=providers,
        options={**ANY_OBJECT, "description": "Provider options; keyed by slug for several"},
        source_url={"type": "string", "format": "uri"},
        source_ref={**ANY_OBJECT, "description": "See reference_fields in GET /providers"},
    )
    return {
        "operationId": "createJobs",
        "summary": "Submit an image to one provider, or to several as a comparison",
        "description": (
            "Give exactly one source: a multipart `image` file, a `source_url`, or a "
            "`source_ref` (for providers that only upscale images they generated). The "
            "estimate is held against the team's budgets before anything is sent."
        ),
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": multipart},
                "application/json": {"schema": body},
            },
        },
        "responses": responses(201, "JobsCreated", "Queued", 400, 402, 403, 413, 415),
    }


def paths() -> dict[str, Any]:
    file_responses = responses(200, None, "The image file", 404)
    file_responses["200"]["content"] = {
        f"image/{kind}": {"schema": {"type": "string", "format": "binary"}}
        for kind in ("png", "jpeg", "webp")
    }
    del file_responses["405"]
    return {
        "/api/v1/jobs": {"get": _list_jobs(), "post": _create_jobs()},
        "/api/v1/jobs/{id}": {
            "get": {
                "operationId": "getJob",
                "summary": "One job: status, error, cost and results with download URLs",
                "parameters": [JOB_ID],
                "responses": responses(200, "Job", "The job", 404),
            }
        },
        "/api/v1/jobs/{id}/cancel": {
            "post": {
                "operationId": "cancelJob",
                "summary": "Cancel a queued job, or one waiting at a provider that can cancel",
                "parameters": [JOB_ID],
                "responses": responses(200, "Job", "The canceled job", 403, 404, 409),
            }
        },
        "/api/v1/jobs/{id}/results/{index}/file": {
            "get": {
                "operationId": "downloadResult",
                "summary": "Download a result (with the token, or the signed download_url)",
                "security": [{"bearerAuth": []}, {}],
                "parameters": [
                    JOB_ID,
                    {
                        "name": "index",
                        "in": "path",
                        "required": True,
                        "schema": {**INTEGER, "minimum": 0},
                    },
                    query("signature", STRING, "From download_url; valid for one hour"),
                ],
                "responses": file_responses,
            }
        },
        "/api/v1/providers": {
            "get": {
                "operationId": "listProviders",
                "summary": "Providers: input kinds, option schema, limits, account state",
                "responses": responses(200, "ProviderList", "Every provider"),
            }
        },
        "/api/v1/spend": {
            "get": {
                "operationId": "getSpend",
                "summary": "What was charged, by provider, user and day (team time zone)",
                "parameters": [
                    query(
                        "from",
                        {"type": "string", "format": "date"},
                        "First day (default: the 1st of this month)",
                    ),
                    query("to", {"type": "string", "format": "date"}, "Last day (default: today)"),
                ],
                "responses": responses(200, "Spend", "Totals for the period", 400),
            }
        },
    }


@cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Upscaler API",
            "version": VERSION,
            "description": (
                "Submit images to AI upscaling providers, follow the jobs, download results "
                "and read spend. Authenticate with a personal API token: "
                "`Authorization: Bearer ups_…`. Every error has the shape "
                '`{"error": {"code", "message", "details"}}`.'
            ),
        },
        "paths": paths(),
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "ups_…"}
            },
        },
        "security": [{"bearerAuth": []}],
    }


def operations() -> list[dict[str, Any]]:
    """Flat list of operations for the readable docs page."""
    found = []
    for path, methods in document()["paths"].items():
        for method, spec in methods.items():
            found.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": spec.get("summary", ""),
                    "description": spec.get("description", ""),
                    "parameters": spec.get("parameters", []),
                    "statuses": sorted(spec["responses"].items()),
                    "anchor": spec["operationId"],
                }
            )
    return found
