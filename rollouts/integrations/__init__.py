"""Other systems' wire formats around rollouts: OTLP traces in, Argo Rollouts / Flagger gates, gateway
configuration renderings of the routing table, and the Prometheus exposition of Rewind's own state."""
