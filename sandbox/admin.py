"""The sandbox in the Django admin: knobs to turn, jobs to push along, the request log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse

from sandbox import knobs
from sandbox.models import Phase, SandboxJob, SandboxKnobs, SandboxRequest, SandboxResult


@admin.register(SandboxKnobs)
class SandboxKnobsAdmin(admin.ModelAdmin):
    list_display = [
        "provider",
        "latency_seconds",
        "async_seconds",
        "failure_rate",
        "rate_limit_next",
        "server_errors_next",
        "out_of_credits",
        "stuck",
        "malformed",
        "result_ttl_seconds",
    ]
    list_editable = [
        "latency_seconds",
        "async_seconds",
        "failure_rate",
        "rate_limit_next",
        "server_errors_next",
        "out_of_credits",
        "stuck",
        "malformed",
        "result_ttl_seconds",
    ]
    readonly_fields = ["provider", "updated_at"]
    actions = ["reset_to_defaults"]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # Rows are created lazily; make sure every provider shows up to be edited.
        for slug in knobs.slugs():
            knobs.get_row(slug)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Reset the selected knobs to their defaults")
    def reset_to_defaults(self, request: HttpRequest, queryset: QuerySet) -> None:
        for row in queryset:
            knobs.reset(row.provider)


class SandboxResultInline(admin.TabularInline):
    model = SandboxResult
    extra = 0
    readonly_fields = ["index", "file_name", "width", "height", "format", "size_bytes"]
    can_delete = False


@admin.register(SandboxJob)
class SandboxJobAdmin(admin.ModelAdmin):
    list_display = ["external_id", "provider", "kind", "fate", "status_override", "created_at"]
    list_filter = ["provider", "kind", "fate", "status_override"]
    search_fields = ["external_id", "client_ref"]
    readonly_fields = ["provider", "external_id", "kind", "parent", "origin", "webhook_sent_at"]
    inlines = [SandboxResultInline]
    actions = ["finish_now", "fail_now", "age_one_hour"]

    @admin.action(description="Complete now (clear any override, end the wait)")
    def finish_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.update(status_override="", fate="complete", duration_seconds=0)

    @admin.action(description="Fail now")
    def fail_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.update(status_override=Phase.FAILED)

    @admin.action(description="Age by one hour (result URLs and uwear results expire)")
    def age_one_hour(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.update(created_at=F("created_at") - timedelta(hours=1))


@admin.register(SandboxRequest)
class SandboxRequestAdmin(admin.ModelAdmin):
    list_display = ["at", "provider", "method", "path", "status_code", "is_create", "client_ref"]
    list_filter = ["provider", "is_create", "status_code"]
    search_fields = ["path", "client_ref", "external_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
