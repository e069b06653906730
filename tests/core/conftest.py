from tests.support.incident_world import (  # noqa: F401
    deployed,
    feature,
    incident,
    layer_owners,
    production,
)
