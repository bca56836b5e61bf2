"""Make sure the demo team and user exist (idempotent), and say how to log in."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from jobs import services
from jobs.models import Membership, Role, Team


def demo_password() -> str:
    """DEMO_PASSWORD when set; otherwise generated once and kept under the data dir."""
    if os.environ.get("DEMO_PASSWORD"):
        return os.environ["DEMO_PASSWORD"]
    path = settings.DATA_DIR / "secrets" / "demo_password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Create the demo team and user if missing, with sandbox provider accounts."

    def handle(self, *args: Any, **options: Any) -> None:
        password = demo_password()
        user, created = get_user_model().objects.get_or_create(username="demo")
        if created or not user.check_password(password):
            user.set_password(password)
            user.save()
        team = Team.objects.filter(memberships__user=user).first()
        if team is None:
            team = services.create_team("Demo team", user)
        Membership.objects.filter(team=team, user=user).update(role=Role.OWNER)
        if settings.SANDBOX_ENABLED:
            services.ensure_sandbox_accounts(team)
        port = os.environ.get("PORT", "8000")
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Upscaler is starting: open http://127.0.0.1:{port}/\n"
                f"  Log in as  demo  /  {password}\n"
            )
        )
