"""The API's description: the OpenAPI document, and a readable page made from it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from jobs.api import openapi


def openapi_document(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi.document(), json_dumps_params={"indent": 2})


def docs_page(request: HttpRequest) -> HttpResponse:
    """Public like the document itself: it describes the API and holds nothing secret."""
    context = {
        "info": openapi.document()["info"],
        "operations": openapi.operations(),
        "base_url": request.build_absolute_uri("/").rstrip("/"),
        "openapi_url": reverse("api:openapi"),
        "statuses": [status.value for status in openapi.JobStatus],
    }
    return render(request, "api/docs.html", context)
