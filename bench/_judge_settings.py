"""Settings for the judge-quality benchmark: the project's, on a private in-memory SQLite database (nothing on
the shared PostgreSQL)."""

from config.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "CONN_MAX_AGE": None,
        "OPTIONS": {"transaction_mode": "IMMEDIATE"},
    }
}
# What the engine enqueues goes to an in-memory broker nobody consumes: the benchmark itself drives every run as
# soon as it is due (run_start and run_resume make it due at once), as a free worker would, on the simulated clock.
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = "memory://"
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
