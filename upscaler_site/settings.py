"""Settings for Upscaler, read from the environment.

Every knob is an environment variable listed in README.md. Development defaults are safe
for one machine; with DEBUG off the production hardening below switches on and
`manage.py check --deploy` passes (tests/test_settings.py proves it).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
DATA_DIR = Path(os.environ.get("UPSCALER_DATA_DIR", BASE_DIR / "var")).resolve()


def _secret_from_file(name: str) -> str:
    """A development secret generated once and kept under the data dir.

    Production must set the variable itself; a generated secret would differ per machine.
    """
    if not DEBUG:
        raise ImproperlyConfigured(f"{name} must be set when DEBUG is off.")
    path = DATA_DIR / "secrets" / name.lower()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or _secret_from_file("SECRET_KEY")
# Provider API keys are encrypted with their own key(s), never SECRET_KEY. Several keys
# separated by commas: the first encrypts, all decrypt (see `manage.py rotate_provider_keys`).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", "") or [
    _secret_from_file("FIELD_ENCRYPTION_KEY")
]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_q",
    "jobs",
    "sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "jobs.middleware.CurrentTeamMiddleware",
]

ROOT_URLCONF = "upscaler_site.urls"
WSGI_APPLICATION = "upscaler_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "jobs.context_processors.team",
                "jobs.heartbeat.context",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]


def _database_config() -> dict:
    url = os.environ.get("DATABASE_URL", "")
    if url:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
        config["CONN_HEALTH_CHECKS"] = True
        if config["ENGINE"] == "django.db.backends.sqlite3":
            config["OPTIONS"] = SQLITE_OPTIONS
        return config
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "upscaler.sqlite3",
        "OPTIONS": SQLITE_OPTIONS,
        # Tests get a file database too, so the web process and a real worker share it.
        "TEST": {"NAME": DATA_DIR / "test-upscaler.sqlite3"},
    }


# Web and worker write the same file: WAL lets readers run beside a writer, IMMEDIATE takes
# the write lock at BEGIN (no deadlock on lock upgrade), and the timeout waits for it.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
    ),
}

DATABASES = {"default": _database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "jobs:upload"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing one
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = DATA_DIR / "media"
# Media is never served as static files: every image goes through a view that checks the team.
MEDIA_URL = "/media-not-served/"


def _media_storage() -> dict:
    """Local disk by default; S3-compatible object storage when configured.

    STORAGE_URL=s3://bucket?endpoint_url=http://minio:9000&region=eu-west-1 (credentials in
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), or the usual AWS_STORAGE_BUCKET_NAME.
    The bucket stays private: downloads go through short-lived signed URLs.
    """
    url = urlsplit(os.environ.get("STORAGE_URL", ""))
    bucket = url.hostname if url.scheme == "s3" else os.environ.get("AWS_STORAGE_BUCKET_NAME")
    if not bucket:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    query = dict(parse_qsl(url.query))
    options = {
        "bucket_name": bucket,
        "endpoint_url": query.get("endpoint_url") or os.environ.get("AWS_S3_ENDPOINT_URL"),
        "region_name": query.get("region") or os.environ.get("AWS_S3_REGION_NAME"),
        "default_acl": None,  # private objects; the bucket policy decides, never public-read
        "querystring_auth": True,
        "querystring_expire": env_int("SIGNED_URL_SECONDS", 300),
        "file_overwrite": False,
        "addressing_style": query.get("addressing_style", "path"),
    }
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {k: v for k, v in options.items() if v is not None},
    }


STORAGES = {
    "default": _media_storage(),
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Uploads: large images are streamed to a temp file rather than held in memory.
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
MAX_UPLOAD_PIXELS = env_int("MAX_UPLOAD_PIXELS", 64_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

# Sandbox: local fakes of the five provider APIs, on by default in development only.
SANDBOX_ENABLED = env_bool("SANDBOX_ENABLED", DEBUG)
# Where the worker reaches this app's own sandbox. The outbound guard refuses loopback
# addresses, so this origin is allow-listed explicitly rather than switching the guard off.
SANDBOX_BASE_URL = os.environ.get(
    "SANDBOX_BASE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
).rstrip("/")
# The public origin of this app, for signed source URLs (uwear) and webhooks. Empty = none.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")
OUTBOUND_ALLOWED_ORIGINS = env_list("OUTBOUND_ALLOWED_ORIGINS", "")

# Background worker (django-q2). Retries of paid calls are the app's decision, never the
# queue's: one attempt per task, failures acknowledged, and `retry` past `timeout` plus the
# longest a task can wait in the cluster, so a slow task is never handed to a second worker
# while the first still runs. The cluster keeps few tasks in hand (`queue_limit`): that
# bounds the wait, and a node that dies takes few messages with it (the ticker re-sends).
REDIS_URL = os.environ.get("REDIS_URL", "")
WORKER_TIMEOUT = env_int("WORKER_TIMEOUT", 600)
Q_WORKERS = env_int("WORKERS", 2)
Q_QUEUE_LIMIT = Q_WORKERS * 2
# Worst case: every task held (the queue, plus one in the pusher's hand) runs to its
# timeout ahead of this one, which then runs to its own.
_Q_WAIT_ROUNDS = -(-(Q_QUEUE_LIMIT + 1) // Q_WORKERS)
Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "upscaler"),
    "workers": Q_WORKERS,
    "recycle": 200,
    "timeout": WORKER_TIMEOUT,
    "retry": WORKER_TIMEOUT * (_Q_WAIT_ROUNDS + 1) + 60,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "queue_limit": Q_QUEUE_LIMIT,
    "poll": 0.2,
    "guard_cycle": 0.5,
    "label": "Worker queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# A queued task not picked up within this many seconds is sent again (Redis has no receipts,
# and a worker that dies takes the tasks it had prefetched with it).
DISPATCH_GRACE_SECONDS = env_int("DISPATCH_GRACE_SECONDS", 30)
# How often the ticker wakes due work (polls, retries, reconciliation), in seconds.
TICK_SECONDS = float(os.environ.get("TICK_SECONDS", "1"))
# A claimed job whose worker has not renewed its lease by then is considered abandoned.
# A running step renews it every third of this (jobs.engine.keep_lease), so it can be short:
# it is how long a crashed worker's job waits before the reconciler picks it up.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 60)
# How long one result download may take, start to finish (slow-drip servers included).
RESULT_DOWNLOAD_DEADLINE_SECONDS = env_int("RESULT_DOWNLOAD_DEADLINE_SECONDS", 180)

# The cache holds API rate-limit counters: shared by every process through Redis when
# REDIS_URL is set, per process in memory otherwise.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": Q_CLUSTER["name"],
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Requests one API token may make per minute (429 with Retry-After past it).
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 120)

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "upscaler@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "django_q": {"level": "WARNING"},
    },
}

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
