"""`manage.py create_api_token USERNAME [--team SLUG] [--name NAME]`: print a new token.

The token alone is printed on one line (so `TOKEN=$(manage.py create_api_token alice)`
works); it is shown this once and stored only as a hash.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import tokens
from jobs.models import Membership


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (only the token, on one line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--team", help="Team slug; needed when the user is in several teams")
        parser.add_argument("--name", default="Command line", help="What the token is for")

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._user(options["username"])
        membership = self._membership(user, options["team"])
        _token, raw = tokens.create_token(user, membership.team, options["name"])
        self.stdout.write(raw)

    @staticmethod
    def _user(username: str) -> Any:
        found = get_user_model().objects.filter(username=username).first()
        if found is None:
            raise CommandError(f"No user named {username!r}.")
        return found

    @staticmethod
    def _membership(user: Any, slug: str | None) -> Membership:
        memberships = Membership.objects.select_related("team").filter(user=user)
        if slug:
            memberships = memberships.filter(team__slug=slug)
        found = list(memberships[:2])
        if not found:
            where = f"team {slug!r}" if slug else "any team"
            raise CommandError(f"{user} is not a member of {where}.")
        if len(found) > 1:
            slugs = ", ".join(m.team.slug for m in Membership.objects.filter(user=user))
            raise CommandError(f"{user} is in several teams; choose one with --team ({slugs}).")
        return found[0]
