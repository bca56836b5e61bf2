"""Re-encrypt every provider API key with the newest FIELD_ENCRYPTION_KEYS entry.

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old one after it),
restart, run this command, then remove the old key.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from jobs import crypto
from jobs.models import ProviderAccount


class Command(BaseCommand):
    help = "Re-encrypt all provider API keys with the first key in FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        with transaction.atomic():
            accounts = ProviderAccount.objects.select_for_update().exclude(api_key_encrypted="")
            for account in accounts:
                account.api_key_encrypted = crypto.rotate(account.api_key_encrypted)
                account.save(update_fields=["api_key_encrypted"])
                rotated += 1
        self.stdout.write(f"Re-encrypted {rotated} provider key(s) with the newest key.")
