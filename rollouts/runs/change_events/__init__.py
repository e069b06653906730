"""Change events out: each deployment, rollout step and rollback told to other tools (PagerDuty change events,
CDEvents), signed, retried with back-off, and keyed so a receiver applies each once."""
