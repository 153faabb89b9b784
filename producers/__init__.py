"""The outbound side: replies, acceptance notices and dead letters, published to Kafka."""
