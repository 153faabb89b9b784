"""What both batch entry points share."""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage


async def the_message(message: KafkaMessage) -> KafkaMessage:
    """Handlers take the message itself: its records (`raw_message`), ack and nack.

    With dependency injection off (the broker's apply_types=False), FastStream hands a handler
    whatever its decoder returns. The default decoder would build a message object per record
    and try json.loads on every XML body; and injecting the message as a context field costs
    a worker-thread round trip per batch.
    """
    return message
