"""The operations side of one process: HTTP endpoints (health, metrics, reports) and probes."""
