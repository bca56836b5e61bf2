"""Settings for the test suite: the app's own settings with a private data dir.

The environment set here is inherited by the worker processes the tests start, so they
share the test database, media and queue name.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
# One data dir per test run, so two runs at once never share a database file.
os.environ.setdefault("UPSCALER_DATA_DIR", str(_ROOT / "var" / "test" / str(os.getpid())))
os.environ.setdefault("Q_CLUSTER_NAME", f"upscaler-test-{os.getpid()}")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SANDBOX_ENABLED", "true")

from upscaler_site.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
