"""Settings for the judge-quality benchmark: the project's, on a private in-memory SQLite database (nothing on
the shared PostgreSQL), with tasks run in-process at the moment the engine enqueues them (what a free worker
would do at once, on the simulated clock)."""

from config.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "CONN_MAX_AGE": None,
        "OPTIONS": {"transaction_mode": "IMMEDIATE"},
    }
}
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": True, "root": {"level": "ERROR", "handlers": []}}


class _NoMigrations(dict):
    """Tables straight from the models: the benchmark measures the judge, not the migration history, and a
    private in-memory database then starts in a second instead of replaying every migration."""

    def __contains__(self, label):
        return True

    def __getitem__(self, label):
        return None


MIGRATION_MODULES = _NoMigrations()
