"""Health, metrics and log lines: imported by services, consumers and the operations side."""
