"""Audit block heads to the witness topic, relayed from the blocks table like any outbox: a
copy of the chain outside the database, so a rewrite of both rows and blocks is still caught.
The topic has one partition (one order) and keeps its records (cleanup.policy=delete,
retention GATEWAY_AUDIT_WITNESS_RETENTION_MS); a repeat after a crash carries the same
block number and hash, which the verifier reads as the same record."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from gateway.domain.audit_chain import BlockHead
from gateway.services.ports import UnitOfWork
from producers.kafka_producer import Outgoing

WITNESS_KEY = b"audit-chain"


class AuditWitnessOutbox:
    name = "audit witness"
    id_header = "block_number"

    def __init__(self, topic: str) -> None:
        self._topic = topic

    async def pending(self, uow: UnitOfWork, limit: int) -> list[BlockHead]:
        return await uow.audit.unwitnessed(limit)

    async def pending_with_ids(self, uow: UnitOfWork, ids: Collection[str]) -> list[BlockHead]:
        return await uow.audit.unwitnessed_among([int(i) for i in ids if i.isdigit()])

    async def mark_published(self, uow: UnitOfWork, items: list[BlockHead], now: datetime) -> None:
        await uow.audit.mark_witnessed([head.number for head in items], now)

    def outgoing(self, head: BlockHead) -> Outgoing:
        return Outgoing(
            self._topic,
            WITNESS_KEY,
            head.witness_record(),
            [(self.id_header, str(head.number).encode())],
        )
