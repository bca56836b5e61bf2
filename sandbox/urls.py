"""Local fakes of the provider APIs, mounted at /sandbox/<slug>/ + the provider's own path."""

from django.urls import path  # noqa: F401

app_name = "sandbox"
urlpatterns: list = []
