"""Rewind settings. Everything that differs between machines comes from environment variables.

Embedded default (nothing set): SQLite in ./var and Celery's filesystem broker in ./var/broker, so the app
runs with no server. Production: set DATABASE_URL (PostgreSQL) and REDIS_URL (broker).
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("REWIND_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY", "insecure-dev-key-change-me" if DEBUG or not env_bool("REWIND_PRODUCTION") else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "core",
    "rollouts",
    "incidents",
    "diagnostics",
    "slackbot",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Token polls of the routing table skip the rest of the stack (see the module for why).
    "rollouts.runs.api.fast_poll.RoutingPollMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

_default_db = f"sqlite:///{VAR_DIR / 'rewind.sqlite3'}"
DATABASE_URL = env_str("DATABASE_URL", _default_db)
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    # A file, not memory, so that a Celery worker process started by the tests sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on a missing root
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # plotly.js comes from the installed plotly package: no CDN, works offline.
    ("plotly", Path(plotly.__file__).parent / "package_data"),
]
WHITENOISE_USE_FINDERS = True

# Bodies larger than this are refused with 400 before any parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("REWIND_MAX_BODY_BYTES", 2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
# Path prefix -> body limit, for endpoints that read their raw body themselves (core.middleware).
BODY_SIZE_LIMITS_BY_PATH = {
    "/api/v1/observations": env_int("REWIND_OBSERVATIONS_MAX_BODY_BYTES", 16 * 1024 * 1024),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Rewind API",
    "DESCRIPTION": "Releases, rollouts, incidents and diagnosis for AI features.",
    "VERSION": "1.0.0",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    # One name for choice sets that several fields share (e.g. Release.source and DeploymentEvent.via).
    "ENUM_NAME_OVERRIDES": {
        "SourceEnum": "rollouts.models.Source",
        # incidents / diagnostics
        "IncidentStatusEnum": "incidents.models.Status",
        "IncidentSourceEnum": "incidents.models.IncidentSource",
        "ActionItemStatusEnum": "incidents.models.ActionStatus",
        "ActionItemKindEnum": "incidents.models.ActionKind",
        "PostmortemStatusEnum": "incidents.models.PostmortemStatus",
        "EvidenceKindEnum": "diagnostics.models.EvidenceKind",
        "VerdictEnum": "diagnostics.models.Verdict",
        # Dependent workflows' review status; other apps have "status" fields too.
        "ImpactStatusEnum": "rollouts.models.ImpactStatus",
        # Rollout runs: "layer", "kind", "state" and "mode" are field names in other apps too.
        "ReleaseLayerEnum": "rollouts.models.Layer",
        "DiagnosisLayerEnum": "diagnostics.models.DiagnosisLayer",
        "RunKindEnum": "rollouts.models.RunKind",
        "RunStateEnum": "rollouts.models.RunState",
        "RunModeEnum": "rollouts.models.RunMode",
    },
}

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport (no server needed).
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300)}
else:
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "out").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        # The filesystem transport polls its folder; the default 1 s would make every rollout step a second late.
        "polling_interval": 0.1,
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "rewind")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict = {
    "worker-heartbeat": {"task": "core.worker_heartbeat", "schedule": 60.0},
    "rollouts-tick": {"task": "rollouts.tick", "schedule": env_float("REWIND_ROLLOUT_TICK_SECONDS", 2.0)},
    "observations-prune": {"task": "rollouts.observations_prune", "schedule": 3600.0},
    # Hourly is fine: each reminder is sent at most once per day (keyed by date).
    "slack-reminders": {"task": "slackbot.send_reminders", "schedule": 3600.0},
    "slack-rollback-threads": {"task": "slackbot.rollback_threads_follow", "schedule": 5.0},
}
# Rollout timings in seconds; a run's ``config`` overrides any of them (tests use fractions of a second).
REWIND_ROLLOUT = {
    "analysis_seconds": env_float("REWIND_ROLLOUT_ANALYSIS_SECONDS", 300.0),
    "bake_seconds": env_float("REWIND_ROLLOUT_BAKE_SECONDS", 1800.0),
    "max_looks": env_int("REWIND_ROLLOUT_MAX_LOOKS", 6),
    "lease_seconds": env_float("REWIND_ROLLOUT_LEASE_SECONDS", 60.0),
    "webhook_timeout_seconds": env_float("REWIND_WEBHOOK_TIMEOUT_SECONDS", 5.0),
    "webhook_max_attempts": env_int("REWIND_WEBHOOK_MAX_ATTEMPTS", 5),
    "webhook_backoff_seconds": env_float("REWIND_WEBHOOK_BACKOFF_SECONDS", 2.0),
}
# Task modules outside the autodiscovered <app>.tasks.
CELERY_IMPORTS = ["rollouts.runs.tasks", "rollouts.judging.tasks"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

SLACK_SIGNING_SECRET = env_str("SLACK_SIGNING_SECRET", "")
SLACK_BOT_TOKEN = env_str("SLACK_BOT_TOKEN", "")
SLACK_API_BASE_URL = env_str("SLACK_API_BASE_URL", "https://slack.com/api/")
SLACK_ANNOUNCE_CHANNEL = env_str("SLACK_ANNOUNCE_CHANNEL", "")

# Behaviour-diff reports (diagnostics). Prompt-set and output files go to temporary files and are read line by line,
# so uploads to these paths may be far larger than other bodies.
REWIND_MAX_UPLOAD_BYTES = env_int("REWIND_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
BODY_SIZE_LIMITS_BY_PATH.update(
    dict.fromkeys(
        ("/prompt-sets/", "/reports/new/", "/api/v1/prompt-sets/import/", "/api/v1/reports/"), REWIND_MAX_UPLOAD_BYTES
    )
)
# Optional semantic similarity for reports: dotted path of a class whose instances have encode(texts) -> 2-D array.
REWIND_EMBEDDING_BACKEND = env_str("REWIND_EMBEDDING_BACKEND", "")
CELERY_BEAT_SCHEDULE["diagnostics-reports-resume-stale"] = {"task": "diagnostics.reports_resume_stale", "schedule": 120}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "ReportOutputSourceEnum": "diagnostics.models.OutputSource",
        "BehaviourReportStatusEnum": "diagnostics.models.ReportStatus",
        "ReportLinkPurposeEnum": "diagnostics.models.LinkPurpose",
    }
)

# Alerts in and change events out (docs/alerts-and-change-events.md).
REWIND_CHANGE_EVENTS = {
    "timeout_seconds": env_float("REWIND_CHANGE_EVENT_TIMEOUT_SECONDS", 10.0),
    # A delivery a worker claimed but never finished (it crashed) is re-sent, same key, once this lease runs out.
    "lease_seconds": env_float("REWIND_CHANGE_EVENT_LEASE_SECONDS", 60.0),
    "backoff_seconds": env_float("REWIND_CHANGE_EVENT_BACKOFF_SECONDS", 5.0),
    "max_attempts": env_int("REWIND_CHANGE_EVENT_MAX_ATTEMPTS", 8),
}
CELERY_IMPORTS = [*CELERY_IMPORTS, "rollouts.runs.change_events.tasks"]
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "AlertSourceKindEnum": "incidents.models.AlertSourceKind",
        "AlertStatusEnum": "incidents.models.AlertStatus",
        "ChangeKindEnum": "rollouts.runs.change_events.models.ChangeKind",
        "DeliveryStatusEnum": "rollouts.models.DeliveryStatus",
    }
)
CELERY_BEAT_SCHEDULE["change-events-sweep"] = {
    "task": "rollouts.change_events_sweep",
    "schedule": env_float("REWIND_CHANGE_EVENT_SWEEP_SECONDS", 10.0),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
