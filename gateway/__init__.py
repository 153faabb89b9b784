"""The appeals status gateway: DMS events in, status replies and notices out, over Kafka."""
