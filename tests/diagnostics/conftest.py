from tests.support.incident_world import (  # noqa: F401
    deployed,
    fast_password_hashing,
    feature,
    incident,
    layer_owners,
    production,
)
