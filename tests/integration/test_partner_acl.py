"""The partner topic/ACL script, run against a local broker with SCRAM and the KRaft ACL
authorizer: a partner may write only its own request topic, so the topic is its identity."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from tests.support.services import ROOT, LocalKafka, started

SCRIPT = ROOT / "deploy" / "kafka" / "partner-acl.sh"
REGISTRY = ROOT / "deploy" / "partners.example.toml"
USERS = {"admin": "admin-secret", "gateway": "gw-secret", "vxm": "vxm-secret", "dsx": "dsx-secret"}


@pytest.fixture(scope="module")
def secured_broker(service_root: Path) -> Iterator[LocalKafka]:
    scram = " ".join(
        f"--add-scram 'SCRAM-SHA-512=[name={name},password={password}]'"
        for name, password in USERS.items()
    )
    with started(
        LocalKafka(
            service_root / "kafka-acl",
            extra_properties=ROOT / "deploy" / "kafka" / "acl-test.properties",
            format_args=scram,
        )
    ) as broker:
        yield broker


def grant(broker: LocalKafka, partner: str, principal: str, *extra: str) -> str:
    done = subprocess.run(
        [
            "bash",
            str(SCRIPT),
            "--registry",
            str(REGISTRY),
            "--partner",
            partner,
            "--principal",
            principal,
            "--bootstrap",
            broker.bootstrap,
            "--partitions",
            "1",
            "--command-config",
            str(ROOT / "deploy" / "kafka" / "acl-admin-client.properties"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def client(broker: LocalKafka, user: str) -> dict[str, str]:
    return {
        "bootstrap_servers": broker.bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": USERS[user],
    }


async def _produce(broker: LocalKafka, user: str, topic: str) -> None:
    producer = AIOKafkaProducer(**client(broker, user), request_timeout_ms=8000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"<PartnerRequest/>", key=b"k")
    finally:
        await producer.stop()


async def test_the_dry_run_prints_the_commands_it_would_run():
    done = subprocess.run(
        [
            "bash",
            str(SCRIPT),
            "--dry-run",
            "--registry",
            str(REGISTRY),
            "--partner",
            "AZ-VXM",
            "--principal",
            "User:vxm",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum("TopicCommand" in line for line in lines) == 3
    assert any(
        "--allow-principal User:vxm --operation Write" in line
        and "partner.AZ-VXM.requests.v1" in line
        for line in lines
    )


async def test_a_partner_writes_its_own_request_topic_and_no_other(secured_broker: LocalKafka):
    assert "in place" in grant(secured_broker, "AZ-VXM", "User:vxm")
    assert "in place" in grant(secured_broker, "AZ-DSX", "User:dsx")

    await _produce(secured_broker, "vxm", "partner.AZ-VXM.requests.v1")
    with pytest.raises((TopicAuthorizationFailedError, KafkaError)):
        await _produce(secured_broker, "vxm", "partner.AZ-DSX.requests.v1")
    with pytest.raises((TopicAuthorizationFailedError, KafkaError)):
        await _produce(secured_broker, "vxm", "dms.letters.registrations.v1")

    # The gateway reads what the partner wrote.
    consumer = AIOKafkaConsumer(
        "partner.AZ-VXM.requests.v1",
        **client(secured_broker, "gateway"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=8000)
    finally:
        await consumer.stop()
    assert [r.value for records in batch.values() for r in records] == [b"<PartnerRequest/>"]
