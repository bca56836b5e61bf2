from __future__ import annotations

from typing import Any

from django import template

from jobs.providers.registry import PROVIDERS

register = template.Library()


@register.filter
def provider_label(job: Any) -> str:
    """The provider's display name, marked "Sandbox" so nobody mistakes it for a real one."""
    cls = PROVIDERS.get(job.provider)
    name = cls.name if cls else job.provider
    account = getattr(job, "account", None)
    return f"{name} · Sandbox" if account is not None and account.is_sandbox else name
