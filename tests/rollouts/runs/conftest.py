from tests.rollouts.runs.engine_support import beat, staged  # noqa: F401
