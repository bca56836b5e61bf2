from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from jobs import spend


def team(request: HttpRequest) -> dict[str, Any]:
    return {
        "team": getattr(request, "team", None),
        "membership": getattr(request, "membership", None),
        # Lazy: the budget query runs only when a full page (base.html) shows the banner.
        "spend_warnings": SimpleLazyObject(
            lambda: spend.warnings_for(getattr(request, "team", None))
        ),
    }
