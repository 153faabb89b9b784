"""The AsyncAPI document of a gateway's broker: FastStream describes the subscribers; the
channels the gateway writes through its own producer (replies, notices, dead letters, audit witness)
are declared on the broker here, for the document only. Served live on /asyncapi
(gateway/ops/asgi.py) and written to docs/asyncapi.json by `python -m gateway asyncapi`."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from gateway.settings import Settings

TITLE = "Appeals status gateway"
DESCRIPTION = (
    "Consumes DMS letter events, answers status requests from the e-government bus and the "
    "call center, publishes replies, acceptance notices and dead letters. Every payload is XML "
    "(UTF-8); the contracts are the XSDs in schemas/ (schemas/README.md)."
)


XSD_DMS = "schemas/dms/v1/dms-events.xsd"
XSD_STATUS = "schemas/egov/v1/status-service.xsd"


def outbound_channels(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(title, topic, description, payload) of every channel the gateway writes to."""
    return [
        (
            "egov-replies",
            settings.topic_egov_replies,
            "StatusReply to e-gov requests, keyed by registration number, with the request's "
            "correlation_id header. Only allow-listed reply topics are ever written.",
            f"StatusReply ({XSD_STATUS})",
        ),
        (
            "callcenter-replies",
            settings.topic_callcenter_replies,
            "StatusReply to call-center requests, keyed and correlated as above.",
            f"StatusReply ({XSD_STATUS})",
        ),
        (
            "acceptance-notices",
            settings.topic_acceptance_notices,
            "AcceptanceNotice for letters registered from an electronic channel (regulation "
            "1.2), then a StatusChangeNotice for each change the applicant can see, in sequence "
            "order per letter; keyed by registration number, header notice_id (deduplicate on "
            "it).",
            f"AcceptanceNotice or StatusChangeNotice ({XSD_STATUS})",
        ),
        (
            "dead-letters",
            settings.topic_dead_letters,
            "DMS records that could not be decoded: original key, bytes and headers plus "
            "dlq-reason, dlq-detail, dlq-path, dlq-source-topic, dlq-source-partition, "
            "dlq-source-offset.",
            "the original record's bytes, unchanged",
        ),
        (
            "audit-witness",
            settings.topic_audit_witness,
            "Head of each sealed audit block, in chain order, key audit-chain, header "
            "block_number; one partition, never compacted. Read by verify-audit.",
            "JSON object: number, after_row_id, last_row_id, row_count, rows_root, "
            "previous_hash, sealed_at, block_hash (hex SHA-256; see README, sealed audit log)",
        ),
    ]


JSON_CHANNELS = frozenset({"audit-witness"})  # every other payload is XML


def declare_outbound(broker: KafkaBroker, settings: Settings) -> None:
    """Documentation-only publishers: the gateway sends through producers/kafka_producer."""
    outbound = outbound_channels(settings)
    for title, topic, description, _ in outbound:
        broker.publisher(
            topic,
            title=title,
            description=description,
            include_in_schema=True,
        )


def specification(broker: KafkaBroker) -> AsyncAPI:
    """The document of a broker built by the composition root (which declares the outbound
    channels on it): written to docs/ here, served live on /asyncapi by the gateway."""
    return AsyncAPI(broker, title=TITLE, version=version(), description=DESCRIPTION)


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("appeals-status-gateway")
    except PackageNotFoundError:
        return "0.0.0"
