"""Dead letters are also recorded in the store, with their reasons, for the console's auditor
page (the DMS team reads them there instead of consuming the dead-letter topic)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from gateway.domain.console import DeadLetterEntry
from gateway.services.ports import DeadLetterLog, DeadLetters, IncomingRecord

log = logging.getLogger(__name__)


class RecordedDeadLetters:
    """A DeadLetters port that publishes, then records the reason."""

    def __init__(
        self, publisher: DeadLetters, record: DeadLetterLog, now: Callable[[], datetime]
    ) -> None:
        self._publisher, self._log, self._now = publisher, record, now

    async def publish(
        self, record: IncomingRecord, reason: str, detail: str, path: str | None = None
    ) -> None:
        await self._publisher.publish(record, reason, detail, path)
        entry = DeadLetterEntry(
            self._now(), record.topic, record.partition, record.offset, reason, detail, path
        )
        try:
            await self._log.record(entry)
        except Exception:
            # The dead letter itself is durable on its topic; failing the batch here would only
            # publish it twice. The console's list misses this one, and the log says so.
            log.exception(
                "dead letter published but not recorded for the console",
                extra={"topic": record.topic},
            )
