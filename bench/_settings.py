"""Settings for benchmarks: the project's, plus a bare JSON view to compare the routing endpoint with."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench._urls"
