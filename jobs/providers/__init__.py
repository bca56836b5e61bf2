"""Provider adapters, one module per provider, found by slug through the registry."""

from __future__ import annotations

from jobs.providers.base import Provider, ProviderError
from jobs.providers.registry import PROVIDERS, get_provider_class

__all__ = ["PROVIDERS", "Provider", "ProviderError", "get_provider_class"]
