"""Thin Kafka entry points: decode, call a use case, acknowledge."""
