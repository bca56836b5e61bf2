from django.contrib import admin
from django.db import models

from jobs.models import (
    ApiToken,
    AuditEvent,
    Batch,
    Budget,
    BudgetUsage,
    Invitation,
    JobEvent,
    LedgerEntry,
    Membership,
    PriceEntry,
    ProviderAccount,
    ResultImage,
    ShareLink,
    SourceImage,
    Team,
    UpscaleJob,
    WorkerHeartbeat,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    # The encrypted key is never shown; only its masked hint.
    list_display = ["team", "provider", "label", "is_sandbox", "api_key_hint", "is_active"]
    list_filter = ["provider", "is_sandbox", "is_active"]
    readonly_fields = ["api_key_hint", "health_message"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(SourceImage)
class SourceImageAdmin(admin.ModelAdmin):
    list_display = ["original_name", "team", "format", "width", "height", "size_bytes"]
    list_filter = ["format"]
    search_fields = ["original_name", "sha256"]
    readonly_fields = ["sha256"]


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    readonly_fields = ["at", "kind", "message"]
    can_delete = False


class ResultInline(admin.TabularInline):
    model = ResultImage
    extra = 0
    readonly_fields = ["index", "width", "height", "format", "size_bytes", "is_safe"]
    fields = readonly_fields


@admin.register(UpscaleJob)
class UpscaleJobAdmin(admin.ModelAdmin):
    list_display = ["public_id", "team", "provider", "status", "attempts", "created_at"]
    list_filter = ["status", "provider", "error_kind"]
    search_fields = ["public_id", "provider_job_id"]
    readonly_fields = ["public_id", "webhook_token", "lease_token", "lease_until"]
    raw_id_fields = ["source", "batch", "created_by", "account"]
    inlines = [ResultInline, JobEventInline]


@admin.register(ResultImage)
class ResultImageAdmin(admin.ModelAdmin):
    list_display = ["job", "index", "width", "height", "format", "is_safe"]
    raw_id_fields = ["job"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    # Append-only: entries are written by jobs.ledger and never edited here.
    list_display = ["created_at", "team", "provider", "kind", "usd_micros", "credits", "job"]
    list_filter = ["kind", "provider"]
    raw_id_fields = ["job"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(Batch)


@admin.register(PriceEntry)
class PriceEntryAdmin(admin.ModelAdmin):
    list_display = ["account", "price_key", "credits", "usd_micros_per_credit", "valid_from"]
    list_filter = ["account__provider"]


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["team", "scope", "provider", "user", "monthly_limit_micros", "warn_percent"]
    list_filter = ["scope"]


@admin.register(BudgetUsage)
class BudgetUsageAdmin(admin.ModelAdmin):
    # Written only by jobs.ledger with conditional UPDATEs; read-only here.
    list_display = ["budget", "month", "used_micros", "warned_at"]
    readonly_fields = ["budget", "month", "used_micros", "warned_at"]


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    # Only the token's hash is stored; nothing here can reveal the link itself.
    list_display = ["team", "label", "expires_at", "revoked_at", "view_count", "created_at"]
    readonly_fields = ["view_count", "last_accessed_at"]
    exclude = ["token_hash", "password_hash"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "team", "actor", "action", "target"]
    list_filter = ["action"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "team", "last_used_at", "revoked_at"]
    exclude = ["token_hash"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["team", "email", "role", "expires_at", "accepted_at"]
    exclude = ["token_hash"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["node", "pid", "started_at", "last_seen"]
