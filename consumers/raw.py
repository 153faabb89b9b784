"""What both batch entry points share."""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage


async def raw_bodies(message: KafkaMessage) -> object:
    """The handlers read `message.raw_message` themselves; FastStream's default decoder would
    build a message object per record and try json.loads on every XML body, for nothing."""
    return message.body
