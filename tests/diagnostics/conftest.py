from tests.support.incident_world import deployed, feature, incident, layer_owners, production  # noqa: F401
