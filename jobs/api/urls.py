"""Routes of API v1, mounted at /api/v1/ by upscaler_site.urls."""

from django.urls import path, re_path

from jobs.api import auth, docs, views

app_name = "api"

urlpatterns = [
    path("jobs", views.jobs, name="jobs"),
    path("jobs/<uuid:public_id>", views.job, name="job"),
    path("jobs/<uuid:public_id>/cancel", views.cancel, name="cancel"),
    path("jobs/<uuid:public_id>/results/<int:index>/file", views.result_file, name="result_file"),
    path("providers", views.providers, name="providers"),
    path("spend", views.spend, name="spend"),
    path("openapi.json", docs.openapi_document, name="openapi"),
    path("docs", docs.docs_page, name="docs"),
    re_path(r"^(?P<rest>.*)$", auth.not_found_view, name="not_found"),
]
