"""A realistic synthetic DMS stream, for demos, tests and benchmarks.

`generate_events` is pure and deterministic for a seed: N letters, each registered, assigned,
moved through statuses, some forwarded to other agencies, some answered and closed. A share of
the letters has its events shuffled and some duplicated, as a real stream may deliver them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.domain.letters import (
    Agency,
    Applicant,
    ApplicantKind,
    Channel,
    DeadlineClass,
    Department,
    DmsEvent,
    Executor,
    LetterAssigned,
    LetterConcluded,
    LetterExtended,
    LetterForwarded,
    LetterRegistered,
    Status,
    StatusChanged,
)
from gateway.settings import Settings

DEPARTMENTS = (
    Department("DGK-GTI", "Gömrük tariflərinin tənzimlənməsi idarəsi"),
    Department("DGK-GNI", "Gömrük nəzarəti idarəsi"),
    Department("DGK-VHI", "Vətəndaşların müraciətləri ilə iş idarəsi"),
    Department("DGK-HSI", "Hüquq şöbəsi"),
)
EXECUTORS = (
    Executor("E1001", "Əliyev Rəşad Kamil oğlu", "+994 12 404 52 01"),
    Executor("E1002", "Məmmədova Leyla Arif qızı", "+994 12 404 52 02"),
    Executor("E1003", "Hüseynov Elvin Tofiq oğlu", "+994 12 404 52 03"),
    Executor("E1004", "Quliyeva Nərmin Vüqar qızı", "+994 12 404 52 04"),
)
AGENCIES = (
    Agency("AZ-VXM", "Vergilər Nazirliyi"),
    Agency("AZ-IQN", "İqtisadiyyat Nazirliyi"),
    Agency("AZ-DSX", "Dövlət Sərhəd Xidməti"),
)
SUBJECTS = (
    "Avtomobilin gömrük rüsumu barədə sorğu",
    "Poçt göndərişinin saxlanılması ilə bağlı şikayət",
    "Gömrük bəyannaməsinin düzəldilməsi",
    "Şəxsi əşyaların gömrük rəsmiləşdirilməsi",
)
_FIN_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def registration_number(index: int, year: int = 2026) -> str:
    return f"DGK-{year}-{index:06d}"


def applicant_for(index: int) -> Applicant:
    """Deterministic per letter, so tests can ask as the right applicant."""
    rng = random.Random(index)
    if index % 5 == 0:
        return Applicant(ApplicantKind.COMPANY, f"{rng.randrange(10**9, 10**10)}", "Xəzər MMC")
    fin = "".join(rng.choice(_FIN_ALPHABET) for _ in range(7))
    return Applicant(ApplicantKind.PERSON, fin, "Vətəndaş")


EXTENSION_IDS = uuid.UUID("5b0c2f8e-4d7a-4c1e-9a3b-6f2d8e1c0a47")  # namespace of their ids


def letter_events(
    index: int, rng: random.Random, *, forwarded_by: Agency | None = None
) -> list[DmsEvent]:
    """One letter's events in DMS order; `forwarded_by` makes it a letter that agency sent us."""
    number = registration_number(index)
    at = _START + timedelta(minutes=index)
    sequence = 0

    def common() -> dict[str, Any]:
        nonlocal sequence, at
        sequence += 1
        at += timedelta(hours=rng.randint(1, 48))
        return {
            "event_id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "registration_number": number,
            "sequence": sequence,
            "occurred_at": at,
        }

    # Deadline facts draw from their own generator, so streams of earlier seeds stay the same.
    deadlines = random.Random(index)
    forwarded = rng.random() < 0.15 or forwarded_by is not None
    channel = Channel.AGENCY if forwarded else rng.choice(list(Channel)[:4])
    agency = forwarded_by or rng.choice(AGENCIES)
    events: list[DmsEvent] = [
        LetterRegistered(
            **common(),
            registration_date=at.date(),
            channel=channel,
            applicant=applicant_for(index),
            subject=rng.choice(SUBJECTS),
            forwarded_by=agency if forwarded else None,
            sender_reference=f"{agency.code}-{index:05d}" if forwarded else None,
            due_date=at.date() + timedelta(days=30) if rng.random() < 0.8 else None,
            deadline_class=DeadlineClass.ADDITIONAL_STUDY
            if deadlines.random() < 0.2
            else DeadlineClass.GENERAL,
        ),
        LetterAssigned(
            **common(), department=rng.choice(DEPARTMENTS), executor=rng.choice(EXECUTORS)
        ),
    ]
    stage = rng.random()
    if stage > 0.2:
        events.append(StatusChanged(**common(), status=Status.IN_PROGRESS))
        if deadlines.random() < 0.15:
            sequence += 1
            events.append(
                LetterExtended(
                    # Not drawn: `deadlines` repeats `rng` when the caller seeds it with the index,
                    # and a drawn id would then be the registration's.
                    event_id=uuid.uuid5(EXTENSION_IDS, f"{number}/{sequence}"),
                    registration_number=number,
                    sequence=sequence,
                    occurred_at=at + timedelta(minutes=30),
                    working_days=deadlines.choice((10, 20, 30)),
                    reason="Əlavə məlumat üçün digər quruma sorğu göndərilib",
                    applicant_told=deadlines.random() < 0.9,
                )
            )
    if stage > 0.4 and rng.random() < 0.3:
        events.append(
            StatusChanged(
                **common(), status=Status.INFO_REQUESTED, public_note="Əlavə sənəd tələb olunur"
            )
        )
    if stage > 0.5 and rng.random() < 0.2:
        target = rng.choice(AGENCIES)
        events.append(
            LetterForwarded(**common(), agency=target, outgoing_reference=f"DGK-OUT-{index:06d}")
        )
    if stage > 0.6:
        outcome = Status.ANSWERED if rng.random() < 0.7 else Status.CLOSED
        events.append(
            LetterConcluded(
                **common(),
                outcome=outcome,
                answer_date=at.date(),
                outgoing_reference=f"DGK-C-{index:06d}",
            )
        )
    return events


def generate_events(letters: int, seed: int = 1, disorder: float = 0.1) -> Iterator[DmsEvent]:
    rng = random.Random(seed)
    for index in range(1, letters + 1):
        events = letter_events(index, rng)
        if rng.random() < disorder:
            events += rng.sample(events, k=rng.randint(1, len(events)))  # duplicates
            rng.shuffle(events)  # and any order, registration possibly last
        yield from events


async def simulate(settings: Settings, letters: int, seed: int, disorder: float) -> int:
    from aiokafka import AIOKafkaProducer

    from gateway.kafka import kafka_connection
    from gateway.xmlcodec.loading import load_codecs

    codec = load_codecs(settings).dms
    producer = AIOKafkaProducer(**kafka_connection(settings), linger_ms=20, acks="all")
    sent = 0
    try:
        await producer.start()
        for event in generate_events(letters, seed, disorder):
            topic = (
                settings.topic_dms_registrations
                if isinstance(event, LetterRegistered)
                else settings.topic_dms_status
            )
            await producer.send(topic, codec.encode(event), key=event.registration_number.encode())
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    print(f"published {sent} DMS events for {letters} letters")
    return 0
