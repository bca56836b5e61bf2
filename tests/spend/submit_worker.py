"""A separate process that submits batches against one budget, for the concurrency test.

    python -m tests.spend.submit_worker TEAM_ID USER_ID SOURCE_ID BATCHES BATCH_SIZE START_FILE

It waits for START_FILE to appear (so every process starts together), submits BATCHES
batches of BATCH_SIZE Ideogram jobs, and prints how many jobs were accepted and how many
batches a budget refused, as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from jobs import services
    from jobs.models import SourceImage, Team

    team_id, user_id, source_id, batches, size = (int(arg) for arg in argv[:5])
    start = Path(argv[5])
    team = Team.objects.get(pk=team_id)
    user = get_user_model().objects.get(pk=user_id)
    picture = SourceImage.objects.get(pk=source_id)
    spec = services.JobSpec(provider="ideogram", options={}, source=picture)
    while not start.exists():
        time.sleep(0.01)
    accepted = refused = 0
    for _ in range(batches):
        try:
            accepted += len(services.submit_jobs(team, user, [spec] * size))
        except services.BudgetExceeded:
            refused += 1
    print(json.dumps({"accepted": accepted, "refused": refused}))


if __name__ == "__main__":
    main(sys.argv[1:])
