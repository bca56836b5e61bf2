"""Which provider adapters exist, by slug. Order is the order users see them in."""

from __future__ import annotations

import importlib

from jobs.providers.base import Provider

_MODULES = {
    "local": "jobs.providers.local.LocalProvider",
    "aimlapi": "jobs.providers.aimlapi.AimlapiProvider",
    "ideogram": "jobs.providers.ideogram.IdeogramProvider",
    "useapi": "jobs.providers.useapi.UseapiProvider",
    "imagineapi": "jobs.providers.imagineapi.ImagineapiProvider",
    "uwear": "jobs.providers.uwear.UwearProvider",
}


def _load(path: str) -> type[Provider]:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


PROVIDERS: dict[str, type[Provider]] = {slug: _load(path) for slug, path in _MODULES.items()}


def get_provider_class(slug: str) -> type[Provider]:
    try:
        return PROVIDERS[slug]
    except KeyError:
        raise LookupError(f"Unknown provider {slug!r}.") from None


def provider_choices() -> list[tuple[str, str]]:
    return [(slug, cls.name) for slug, cls in PROVIDERS.items()]
