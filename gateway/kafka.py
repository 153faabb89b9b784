"""Kafka connection facts for every client the gateway and its commands build: aiokafka's keyword
arguments, FastStream's security object, and creation of missing topics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.security import BaseSecurity, SASLScram256, SASLScram512

from gateway.settings import SaslMechanism, SecurityProtocol, Settings

log = logging.getLogger(__name__)


def kafka_connection(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka clients (producer, consumer, admin)."""
    connection: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol.value,
    }
    if settings.kafka_security_protocol is not SecurityProtocol.PLAINTEXT:
        connection["ssl_context"] = settings.ssl_context()
    if settings.kafka_security_protocol is SecurityProtocol.SASL_SSL:
        password = settings.kafka_sasl_password
        connection.update(
            sasl_mechanism=settings.kafka_sasl_mechanism.value,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=password.get_secret_value() if password else None,
        )
    return connection


def faststream_security(settings: Settings) -> BaseSecurity | None:
    protocol = settings.kafka_security_protocol
    if protocol is SecurityProtocol.PLAINTEXT:
        return None
    if protocol is SecurityProtocol.SSL:
        return BaseSecurity(ssl_context=settings.ssl_context(), use_ssl=True)
    scram = (
        SASLScram512
        if settings.kafka_sasl_mechanism is SaslMechanism.SCRAM_SHA_512
        else (SASLScram256)
    )
    password = settings.kafka_sasl_password
    return scram(
        username=settings.kafka_sasl_username or "",
        password=password.get_secret_value() if password else "",
        ssl_context=settings.ssl_context(),
        use_ssl=True,
    )


async def ensure_topics(settings: Settings, topics: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(**kafka_connection(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            new = [_new_topic(settings, t) for t in missing]
            with contextlib.suppress(TopicAlreadyExistsError):  # another replica was quicker
                await admin.create_topics(new)
            log.info("created topics %s", ", ".join(missing))
    finally:
        await admin.close()


def _new_topic(settings: Settings, topic: str) -> NewTopic:
    if topic == settings.topic_audit_witness:  # one order; kept, never compacted away
        configs = {
            "cleanup.policy": "delete",
            "retention.ms": str(settings.audit_witness_retention_ms),
        }
        return NewTopic(topic, 1, settings.topic_replication_factor, topic_configs=configs)
    return NewTopic(topic, settings.topic_partitions, settings.topic_replication_factor)
