"""Poison DMS records reach the dead-letter topic with their reason; ingestion goes on."""

from __future__ import annotations

import json
import random
from pathlib import Path

from gateway.app import Gateway
from gateway.settings import Settings
from gateway.tools.simulator import letter_events
from producers import dead_letters as dlq
from tests.support.kafka_io import DmsPublisher, read_topic
from tests.support.store_snapshot import count
from tests.support.waiting import eventually

INVALID = Path(__file__).resolve().parents[2] / "schemas" / "dms" / "v1" / "invalid"


def poison_corpus(settings: Settings) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, expected reason): the schema's invalid cases plus hostile extremes."""
    expected = json.loads((INVALID / "expected.json").read_text(encoding="utf-8"))
    corpus = {
        name: ((INVALID / name).read_bytes(), case["code"]) for name, case in expected.items()
    }
    corpus["oversized"] = (b"<a>" + b"x" * (settings.xml_max_bytes + 1) + b"</a>", "OVERSIZED")
    corpus["billion-laughs"] = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<l>&b;</l>",
        "FORBIDDEN_CONSTRUCT",
    )
    corpus["json"] = (
        b'{"eventId": "1", "registrationNumber": "DGK-2026-000001"}',
        "NOT_WELL_FORMED",
    )
    corpus["png"] = (b"\x89PNG\r\n\x1a\n\x00\x00", "BAD_ENCODING")
    corpus["wrong-version"] = (
        b'<LetterAssigned xmlns="urn:az:customs:appeals:dms:v2"/>',
        "UNSUPPORTED_VERSION",
    )
    return corpus


async def test_each_poison_kind_is_dead_lettered_with_its_reason_and_good_events_flow_on(
    gateway: Gateway, dms: DmsPublisher, settings: Settings
):
    corpus = poison_corpus(gateway.settings)
    good_before = letter_events(1, random.Random(1))
    good_after = letter_events(2, random.Random(2))
    await dms.publish(good_before)
    for name, (value, _) in corpus.items():
        await dms.publish_raw(
            settings.topic_dms_status, value, key=name, headers=[("origin", name.encode())]
        )
    await dms.publish(good_after)

    total = len(good_before) + len(good_after)
    await eventually(lambda: count(gateway.engine), lambda n: n == total)
    dead = await eventually(
        lambda: read_topic(settings, settings.topic_dead_letters),
        lambda records: len(records) >= len(corpus),
    )
    assert len(dead) == len(corpus)
    for record in dead:
        headers = dict(record.headers)
        name = headers["origin"].decode()
        value, reason = corpus[name]
        assert record.value == value, f"{name}: original bytes kept"
        assert headers[dlq.REASON].decode() == reason, name
        assert headers[dlq.SOURCE_TOPIC].decode() == settings.topic_dms_status
        assert int(headers[dlq.SOURCE_OFFSET]) >= 0 and int(headers[dlq.SOURCE_PARTITION]) >= 0
        if reason == "SCHEMA_INVALID":
            assert headers[dlq.PATH].decode().startswith("/"), name
