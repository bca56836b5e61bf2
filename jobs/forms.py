"""Forms whose option fields are generated from each provider's `Option` definitions.

The widgets come from the definitions, and so does validation: `Provider.clean_options`
runs on the submitted values, so the form, the API and the adapter can never disagree.
"""

from __future__ import annotations

from typing import Any

from django import forms

from jobs import services
from jobs.models import ProviderAccount, Team
from jobs.providers.base import InputKind, Option, OptionError, Provider
from jobs.providers.registry import PROVIDERS, get_provider_class

OPTION_PREFIX = "opt_"
REFERENCE_PREFIX = "ref_"


def field_for(option: Option) -> forms.Field:
    common: dict[str, Any] = {
        "label": option.label,
        "help_text": option.help,
        "required": False,
        "initial": option.default,
    }
    if option.type == "choice":
        # A plain field with a select widget: the Option, not Django, says what is allowed.
        choices = [(str(c), str(c)) for c in option.choices]
        return forms.CharField(widget=forms.Select(choices=choices), **common)
    if option.type == "bool":
        return forms.BooleanField(**common)
    if option.type in ("int", "float"):
        attrs = {"min": option.minimum, "max": option.maximum}
        if option.type == "float":
            attrs["step"] = "0.05"
        attrs = {k: v for k, v in attrs.items() if v is not None}
        return forms.CharField(widget=forms.NumberInput(attrs=attrs), **common)
    return forms.CharField(max_length=int(option.maximum or 2000), widget=forms.TextInput, **common)


def provider_label(slug: str, accounts: dict[str, ProviderAccount]) -> str:
    """The provider's name as a picker shows it, marked when it has no account or a sandbox.

    `accounts` is `services.accounts_by_provider(team)`, fetched once per page.
    """
    cls = get_provider_class(slug)
    if not cls.needs_network:
        return cls.name
    account = accounts.get(slug)
    if account is None:
        return f"{cls.name} (no account)"
    return f"{cls.name} (Sandbox)" if account.is_sandbox else cls.name


class SubmitForm(forms.Form):
    """Provider, its options and (for reference-based providers) the provider reference."""

    provider = forms.ChoiceField(choices=())

    def __init__(self, *args: Any, team: Team | None, provider: str | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.team = team
        accounts = services.accounts_by_provider(team) if team is not None else {}
        self.fields["provider"].choices = [
            (slug, provider_label(slug, accounts)) for slug in PROVIDERS
        ]
        chosen = provider or self.data.get("provider") or self.initial.get("provider") or "local"
        self.provider_cls: type[Provider] = PROVIDERS.get(chosen, PROVIDERS["local"])
        self.fields["provider"].initial = self.provider_cls.slug
        for option in self.provider_cls.options:
            self.fields[OPTION_PREFIX + option.name] = field_for(option)
        if InputKind.REFERENCE in self.provider_cls.input_kinds:
            for ref_field in self.provider_cls.reference_fields:
                self.fields[REFERENCE_PREFIX + ref_field.name] = field_for(ref_field)

    @property
    def takes_upload(self) -> bool:
        kinds = set(self.provider_cls.input_kinds)
        return bool(kinds & {InputKind.UPLOAD, InputKind.PUBLIC_URL})

    @property
    def takes_reference(self) -> bool:
        return InputKind.REFERENCE in self.provider_cls.input_kinds

    @property
    def can_generate_source(self) -> bool:
        """A sandbox account of a provider that makes its own source images."""
        from jobs.views.references import sandbox_generator

        return bool(self.team and sandbox_generator(self.team, self.provider_cls.slug))

    def option_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(OPTION_PREFIX)]

    def reference_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(REFERENCE_PREFIX)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        raw = {
            name[len(OPTION_PREFIX) :]: value
            for name, value in data.items()
            if name.startswith(OPTION_PREFIX)
        }
        try:
            data["options"] = self.provider_cls.clean_options(raw)
        except OptionError as exc:
            self.add_error(OPTION_PREFIX + exc.field, exc.message)
        data["reference"] = self._clean_reference(data)
        return data

    def _clean_reference(self, data: dict[str, Any]) -> dict[str, Any] | None:
        raw = {
            name[len(REFERENCE_PREFIX) :]: value
            for name, value in data.items()
            if name.startswith(REFERENCE_PREFIX)
        }
        if not any(v not in (None, "") for v in raw.values()):
            return None
        try:
            return self.provider_cls.clean_reference(raw)
        except OptionError as exc:
            self.add_error(REFERENCE_PREFIX + exc.field, exc.message)
            return None
