"""Which provider account a job uses."""

from __future__ import annotations

from typing import Any

import pytest

from jobs import services
from jobs.models import ProviderAccount

pytestmark = pytest.mark.django_db


def test_jobs_use_the_real_account_before_the_sandbox(team: Any) -> None:
    sandbox = services.ensure_sandbox_accounts(team)
    assert services.account_for(team, "aimlapi") in sandbox
    first = ProviderAccount.objects.create(team=team, provider="aimlapi", label="First")
    ProviderAccount.objects.create(team=team, provider="aimlapi", label="Second")
    ProviderAccount.objects.create(team=team, provider="aimlapi", label="Off", is_active=False)
    assert services.account_for(team, "aimlapi") == first
    assert services.accounts_by_provider(team)["aimlapi"] == first
    assert services.account_for(team, "local") is None
