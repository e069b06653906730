"""Alert intake: sources that post alerts (Alertmanager, Grafana, PagerDuty, generic JSON), routing rules, and
the de-duplication that turns a storm of notifications into one incident."""
