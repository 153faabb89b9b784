"""A requester, as the e-government portal or the call center would be one: publish a request
with `reply_to` and `correlation_id` headers, read the reply topic, match by correlation id.

FastStream's request() does not work on a real Kafka broker, so the correlation is done here.
Used by `python -m gateway ask`, the tests and the benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from typing import Any, TypedDict, Unpack

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gateway.domain.letters import ApplicantKind
from gateway.domain.requests import Query, RequestHeader, StatusRequest
from gateway.domain.texts import Language
from gateway.settings import Settings

SERVICE_CODE = "customs-letter-status"
PROTOCOL_VERSION = "1.0"


class Options(TypedDict, total=False):
    reply_to: str | None  # "" sends no reply_to header
    key: bytes | None
    correlation_id: str | None
    headers: Sequence[tuple[str, bytes]]


class NoReplyTopic(RuntimeError):
    pass


class StatusClient:
    def __init__(self, connection: dict[str, Any], request_topic: str, reply_topic: str) -> None:
        self._request_topic, self._reply_topic = request_topic, reply_topic
        self._producer = AIOKafkaProducer(**connection, linger_ms=0)
        self._consumer = AIOKafkaConsumer(**connection, enable_auto_commit=False)
        self._waiting: dict[str, asyncio.Future[tuple[bytes, dict[str, bytes]]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        partitions = await self._wait_for_partitions()
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for partition in partitions:  # resolve the end offsets now, before any request goes out
            await self._consumer.position(partition)
        self._reader = asyncio.create_task(self._read_replies())

    async def _wait_for_partitions(self) -> list[TopicPartition]:
        for _ in range(100):
            found = self._consumer.partitions_for_topic(self._reply_topic)
            if found:
                return [TopicPartition(self._reply_topic, p) for p in sorted(found)]
            await self._consumer._client.force_metadata_update()  # noqa: SLF001
            await asyncio.sleep(0.1)
        raise NoReplyTopic(f"reply topic {self._reply_topic} does not exist")

    async def stop(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._consumer.stop()
        await self._producer.stop()

    async def _read_replies(self) -> None:
        async for record in self._consumer:
            headers = dict(record.headers or ())
            correlation = headers.get("correlation_id", b"").decode(errors="replace")
            future = self._waiting.pop(correlation, None)
            if future is not None and not future.done():
                future.set_result((record.value or b"", headers))

    async def send(self, payload: bytes, *, timeout: float, **options: Unpack[Options]) -> bytes:
        """Publish raw request bytes and wait for the reply with the same correlation id."""
        reply, _ = await self.exchange(payload, timeout=timeout, **options)
        return reply

    async def exchange(
        self,
        payload: bytes,
        *,
        timeout: float,
        reply_to: str | None = None,
        key: bytes | None = None,
        correlation_id: str | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> tuple[bytes, dict[str, bytes]]:
        """As send(), with more request headers (a traceparent, say); returns the reply's too."""
        correlation = correlation_id or str(uuid.uuid4())
        future = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = future
        sent = [("correlation_id", correlation.encode()), *headers]
        if reply_to != "":
            sent.append(("reply_to", (reply_to or self._reply_topic).encode()))
        try:
            await self._producer.send_and_wait(self._request_topic, payload, key=key, headers=sent)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(correlation, None)


def build_request(
    settings: Settings,
    registration_number: str,
    *,
    user: str | None = None,
    company: bool = False,
    operator: str | None = None,
    client: str | None = None,
    message_id: str | None = None,
    query: Query = Query.STATUS,
    language: Language = Language.AZ,
) -> StatusRequest:
    configured = settings.callcenter_client_ids if operator else settings.egov_client_ids
    header = RequestHeader(
        client_id=client or first_of(configured),
        service_code=SERVICE_CODE,
        message_id=message_id or str(uuid.uuid4()),
        protocol_version=PROTOCOL_VERSION,
        user_id=user,
        user_kind=(ApplicantKind.COMPANY if company else ApplicantKind.PERSON) if user else None,
        auth_level="enhanced-signature" if user else None,
        operator_id=operator,
    )
    return StatusRequest(header, registration_number, query, language=language)


def first_of(client_ids: str) -> str:
    """The first client id of a comma-separated setting, as configured (not sorted)."""
    return next(part.strip() for part in client_ids.split(",") if part.strip())


async def ask_and_print(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.kafka import kafka_connection
    from gateway.xmlcodec.loading import load_codecs

    codec = load_codecs(settings).status
    request = build_request(
        settings,
        args.registration_number,
        user=args.user,
        company=args.company,
        operator=args.operator,
        client=args.client,
        query=Query.ACCESS_LOG if args.access_log else Query.STATUS,
        language=Language(args.language),
    )
    if args.operator:
        topics = (settings.topic_callcenter_requests, settings.topic_callcenter_replies)
    else:
        topics = (settings.topic_egov_requests, settings.topic_egov_replies)
    client = StatusClient(kafka_connection(settings), *topics)
    try:
        await client.start()
    except NoReplyTopic as missing:
        await client.stop()
        print(f"ask: {missing}; has the gateway started (`make run`)?")
        return 2
    except BaseException:
        await client.stop()
        raise
    try:
        raw = await client.send(
            codec.encode_request(request),
            timeout=args.timeout or settings.reply_timeout_s,
            key=args.registration_number.encode(),
        )
    except TimeoutError:
        print(f"no reply within {args.timeout or settings.reply_timeout_s:.0f} s")
        return 3
    finally:
        await client.stop()
    if args.xml:
        print(raw.decode())
        return 0
    reply = codec.decode_reply(raw)
    print(format_reply(reply))
    return 0 if reply.fault is None else 1


def format_reply(reply: Any) -> str:
    if reply.fault is not None:
        detail = f" ({reply.fault.detail})" if reply.fault.detail else ""
        return f"FAULT {reply.fault.code}: {reply.fault.message}{detail}"
    if reply.access_log is not None:
        log = reply.access_log
        lines = [f"Who looked at {log.registration_number} (as of {log.as_of.isoformat()}):"]
        lines += [
            f"  {a.at.isoformat()}  {a.channel}"
            + (f"  {a.partner_name}" if a.partner_name else "")
            + (f"  {a.official}" if a.official else "")
            for a in log.accesses
        ]
        return "\n".join(lines if log.accesses else [*lines, "  nobody"])
    from gateway.reference.status_texts import status_texts

    s = reply.status
    texts = status_texts()
    az, en = (texts.status(s.status, language).label for language in (Language.AZ, Language.EN))
    lines = [
        f"Registration number : {s.registration_number} ({s.registration_date or '-'})",
        f"Status              : {s.status} - {en} / {az}",
        f"Department          : {s.department_name or '-'} ({s.department_code or '-'})",
        f"Executor            : {s.executor_name or '-'}",
        f"Executor phone      : {s.executor_phone or '-'}",
        f"Due date            : {s.due_date or '-'}",
        f"Last change         : {s.last_change_at.isoformat()}",
        f"Data current as of  : {s.as_of.isoformat()}",
    ]
    if (d := s.deadline) is not None:
        left = (
            f", {d.working_days_left} working days left" if d.working_days_left is not None else ""
        )
        lines.append(
            f"Deadline            : {d.state} ({d.kind}, {d.deadline_class}{left})"
            + (" PROVISIONAL" if d.provisional else "")
        )
        if d.extension is not None:
            lines.append(
                f"Extension           : +{d.extension.applied_days} working days: "
                f"{d.extension.reason}"
            )
    if (e := s.explanation) is not None:
        for text in (e.status, e.deadline, *e.notes):
            if text is not None:
                lines.append(f"  [{e.language}] {text.label}: {text.text}")
    lines.append("History:")
    lines += [
        f"  {h.sequence:>3}  {h.at.isoformat()}  {h.status}" + (f"  {h.note}" if h.note else "")
        for h in s.history
    ]
    return "\n".join(lines)
