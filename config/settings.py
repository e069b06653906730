"""Rewind settings. Everything that differs between machines comes from environment variables.

Embedded default (nothing set): SQLite in ./var and Celery's filesystem broker in ./var/broker, so the app
runs with no server. Production: set DATABASE_URL (PostgreSQL) and REDIS_URL (broker).
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_json_object, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("REWIND_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", default=False)
REWIND_PRODUCTION = env_bool("REWIND_PRODUCTION", default=False)
# Published in this file, so it signs nothing outside development: with DEBUG off it is refused, and so is no key.
DEVELOPMENT_SECRET_KEY = "insecure-dev-key-change-me"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY if DEBUG and not REWIND_PRODUCTION else None)
if SECRET_KEY == DEVELOPMENT_SECRET_KEY and (not DEBUG or REWIND_PRODUCTION):
    raise ImproperlyConfigured("SECRET_KEY is the published development key; set a secret one (or SECRET_KEY_FILE)")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "core.admin_apps.RewindAdminConfig",  # django.contrib.admin on a site that applies the "admin" rule
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
    "csp",
    "core",
    "rollouts",
    "incidents",
    "diagnostics",
    "slackbot",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.SlashHintCommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.middleware.OutboxNoticeMiddleware",
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
# The setting a refusal names, so whoever hits a limit knows which one to raise.
BODY_SIZE_LIMIT_SETTINGS = {"/api/v1/observations": "REWIND_OBSERVATIONS_MAX_BODY_BYTES"}

# core.limits: the longest text any one field may hold (API and web), unless the field declares its own limit.
REWIND_MAX_TEXT_CHARS = env_int("REWIND_MAX_TEXT_CHARS", 50_000)

REST_FRAMEWORK = {
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser", "core.parsers.FormParser", "core.parsers.MultiPartParser"],
    "DEFAULT_PAGINATION_CLASS": "core.api.BoundedLimitOffsetPagination",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
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
    # Operations are tagged by the first path segment after /api/v1/ (releases, incidents, reports…), so Swagger
    # groups them by resource.
    "SCHEMA_PATH_PREFIX": r"/api/v1",
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

# Celery: Redis when REDIS_URL is set, otherwise kombu's SQLAlchemy transport on a SQLite file (no server needed;
# SQLite's locking serialises producers and consumers, where the filesystem transport let a reader see half a file).
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300),
        # A stopped Redis must fail a send quickly (the outbox sends it again), not hold the request.
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
else:
    from core.broker import embedded_broker_url

    CELERY_BROKER_URL = embedded_broker_url(VAR_DIR / "broker.sqlite3")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Wait for SQLite's write lock instead of failing when producers and consumers meet.
        "connect_args": {"timeout": 30},
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
    "worker-heartbeat": {"task": "core.worker_heartbeat", "schedule": env_float("REWIND_HEARTBEAT_SECONDS", 10.0)},
    "outbox-sweep": {"task": "core.outbox_sweep", "schedule": env_float("REWIND_OUTBOX_SWEEP_SECONDS", 15.0)},
    "rollouts-tick": {"task": "rollouts.tick", "schedule": env_float("REWIND_ROLLOUT_TICK_SECONDS", 2.0)},
    "observations-prune": {"task": "rollouts.observations_prune", "schedule": 3600.0},
    # Hourly is fine: each reminder is sent at most once per day (keyed by date).
    "slack-reminders": {"task": "slackbot.send_reminders", "schedule": 3600.0},
    "slack-rollback-threads": {"task": "slackbot.rollback_threads_follow", "schedule": 5.0},
}
# Transactional outbox (core.outbox) and health (core.health). Seconds unless named otherwise.
REWIND_OUTBOX = {
    "grace_seconds": env_float("REWIND_OUTBOX_GRACE_SECONDS", 10.0),
    "redeliver_seconds": env_float("REWIND_OUTBOX_REDELIVER_SECONDS", 900.0),
    "keep_done_days": env_int("REWIND_OUTBOX_KEEP_DONE_DAYS", 7),
    # Sending happens in the request after commit: a broker that does not answer costs at most about a second.
    "publish_retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
}
# /healthz answers 503 when no worker has run the heartbeat for this many heartbeat periods.
REWIND_HEALTH_MISSED_HEARTBEATS = env_int("REWIND_HEALTH_MISSED_HEARTBEATS", 3)
# Rollout timings in seconds; a run's ``config`` overrides any of them (tests use fractions of a second).
REWIND_ROLLOUT = {
    "analysis_seconds": env_float("REWIND_ROLLOUT_ANALYSIS_SECONDS", 300.0),
    "bake_seconds": env_float("REWIND_ROLLOUT_BAKE_SECONDS", 1800.0),
    # Tested looks each analysis step and the bake plan; their sum is the run's error budget (judging/plan.py).
    "analysis_looks": env_int("REWIND_ROLLOUT_ANALYSIS_LOOKS", 6),
    "bake_looks": env_int("REWIND_ROLLOUT_BAKE_LOOKS", 6),
    "max_wait_looks": env_int("REWIND_ROLLOUT_MAX_WAIT_LOOKS", 36),  # looks a step waits for data, then pauses
    "bake_holdback_percent": env_float("REWIND_ROLLOUT_BAKE_HOLDBACK_PERCENT", 5.0),  # stable share during the bake
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
BODY_SIZE_LIMIT_SETTINGS.update(
    dict.fromkeys(BODY_SIZE_LIMITS_BY_PATH.keys() - {"/api/v1/observations"}, "REWIND_MAX_UPLOAD_BYTES")
)
# Optional semantic similarity for reports: dotted path of a class whose instances have encode(texts) -> 2-D array.
REWIND_EMBEDDING_BACKEND = env_str("REWIND_EMBEDDING_BACKEND", "")
# Environment variables a generation endpoint's headers may read besides REWIND_SECRET_* (comma-separated).
REWIND_GENERATION_SECRETS = env_list("REWIND_GENERATION_SECRETS", [])
# The LLM that decides refusal verdicts, shown each prompt, for reports that ask for it (option refusal_judge):
# an OpenAI-compatible endpoint; its headers read environment variables as a generation endpoint's do.
REWIND_REFUSAL_JUDGE = {
    "base_url": env_str("REWIND_REFUSAL_JUDGE_URL", ""),
    "model": env_str("REWIND_REFUSAL_JUDGE_MODEL", ""),
    "header_env": env_json_object("REWIND_REFUSAL_JUDGE_HEADERS", {}),
    "concurrency": env_int("REWIND_REFUSAL_JUDGE_CONCURRENCY", 4),
}
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
        # What Argo and Flagger read: the judge's verdicts, not a layer diagnosis's (both fields are "verdict").
        "JudgeVerdictEnum": ["pass", "marginal", "fail", "inconclusive", "no_data"],
        "ChangeKindEnum": "rollouts.runs.change_events.models.ChangeKind",
        "DeliveryStatusEnum": "rollouts.models.DeliveryStatus",
    }
)
CELERY_BEAT_SCHEDULE["change-events-sweep"] = {
    "task": "rollouts.change_events_sweep",
    "schedule": env_float("REWIND_CHANGE_EVENT_SWEEP_SECONDS", 10.0),
}

# One handler, on the root logger. Django's own "django" and "django.server" loggers come with handlers of their
# own; they are reset here so each line is printed once, and expected refusals (4xx) log without a traceback.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"expected_refusals": {"()": "core.logging.ExpectedRefusalFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["expected_refusals"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
    },
}
CSRF_FAILURE_VIEW = "core.views.csrf_failure"

# Browser-facing posture. The Content-Security-Policy allows scripts only from this origin (static files: no
# inline script, no handler attributes, no eval; htmx is configured for it in _base.html). Styles also allow
# 'unsafe-inline' because plotly.js injects <style> elements and style attributes when it draws a chart; a
# style cannot run script, and scripts stay locked down.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# Behind HTTPS (on by default with REWIND_PRODUCTION=1): cookies only over TLS, HSTS, plain HTTP redirected.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=REWIND_PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=REWIND_PRODUCTION)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=REWIND_PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if REWIND_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=REWIND_PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=REWIND_PRODUCTION)
# The header a TLS-terminating proxy sets to "https" (and strips from clients' requests); "none": no proxy.
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto" if REWIND_PRODUCTION else "none")
SECURE_PROXY_SSL_HEADER = (
    None if _proxy_ssl_header.lower() == "none" else ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
)

# Integrations (docs/integrations.md). A bearer token Prometheus may scrape /metrics with (or use an admin's token).
REWIND_METRICS_TOKEN = env_str("REWIND_METRICS_TOKEN", "")
# OTLP intake: {"<feature>": {"<gen_ai model name>": <release number>}} for spans that carry no rewind.release.
REWIND_OTLP_MODEL_RELEASES = env_json_object("REWIND_OTLP_MODEL_RELEASES", {})
BODY_SIZE_LIMITS_BY_PATH["/v1/traces"] = env_int("REWIND_OTLP_MAX_BODY_BYTES", 16 * 1024 * 1024)
# Per-feature default judge metrics (a run's config["metrics"] overrides), e.g. Prometheus-sourced ones:
# {"<feature>": [{"name": "error_rate", "kind": "binary", ..., "source": {"type": "prometheus", ...}}]}.
REWIND_FEATURE_METRICS = env_json_object("REWIND_FEATURE_METRICS", {})
