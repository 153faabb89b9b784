"""`python -m gateway run` as a real process: ready, SIGTERM under load, exit 0 within the
shutdown timeout and nothing lost; and XSDs that fail to load show up on /health/ready."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from gateway.app import running
from gateway.tools.simulator import generate_events
from tests.integration.conftest import settings_for
from tests.integration.test_dms_ingestion import reference
from tests.support.http import get_json, http_get
from tests.support.kafka_io import DmsPublisher
from tests.support.processes import GatewayProcess, environment, free_port
from tests.support.store_snapshot import count, letters_by_number
from tests.support.waiting import eventually

SHUTDOWN_TIMEOUT_S = 8.0


async def test_sigterm_under_load_exits_0_in_time_and_a_successor_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path
):
    settings = settings_for(
        kafka_bootstrap,
        f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        shutdown_timeout_s=SHUTDOWN_TIMEOUT_S,
        ingest_batch_max_records=20,
    )
    process = GatewayProcess(
        environment(settings, http_port=free_port()), tmp_path / "gateway.log"
    ).start()
    from gateway.xmlcodec.dms import DmsXmlCodec

    dms = DmsPublisher(settings, DmsXmlCodec())
    try:
        await process.ready()
        await dms.start()
        events = list(generate_events(150, seed=31, disorder=0.3))
        half = len(events) // 2
        await dms.publish(events[:half])
        process.signal(signal.SIGTERM)  # while the first half is being ingested
        stopped_at = time.monotonic()
        await dms.publish(events[half:])
        code = await process.wait(SHUTDOWN_TIMEOUT_S + 5)
        took = time.monotonic() - stopped_at
        assert code == 0, process.log()
        assert took < SHUTDOWN_TIMEOUT_S, f"exit took {took:.1f} s"
        print(f"\nSIGTERM under load: exit 0 after {took:.1f} s")
        assert '"gateway stopped"' in process.log()
    finally:
        process.kill()
        await dms.stop()
    # Whatever the first process had not committed, the next one in the group applies now.
    async with running(settings) as successor:
        unique = len({e.event_id for e in events})
        await eventually(lambda: count(successor.engine), lambda n: n == unique, timeout=60)
        assert await letters_by_number(successor.engine) == reference(successor, events)


@pytest.mark.parametrize(
    ("setting", "part", "says"),
    [
        ("schemas_dir", "schemas", ("XSDs failed to load", "no-such-dir")),
        ("calendar_dir", "calendar", ("calendar directory", "no-such-dir", "does not exist")),
    ],
)
async def test_xsds_or_a_calendar_that_fail_to_load_keep_the_process_live_but_not_ready(
    tmp_path: Path, setting: str, part: str, says: tuple[str, ...]
):
    env = environment(
        settings_for("127.0.0.1:1", f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"),
        http_port=free_port(),
        **{setting: tmp_path / "no-such-dir"},
    )
    process = GatewayProcess(env, tmp_path / "gateway.log").start()
    try:

        async def ready_answer() -> tuple[int, dict]:
            try:
                return await get_json(process.port, "/health/ready")
            except httpx.TransportError:  # not listening yet
                return 0, {}

        status, body = await eventually(ready_answer, lambda r: r[0] != 0, timeout=30)
        assert status == 503, body
        assert list(body["problems"]) == [part]
        assert all(words in body["problems"][part] for words in says)
        assert (await http_get(process.port, "/health/live"))[0] == 200
        process.signal(signal.SIGTERM)
        assert await process.wait(10) == 0
    finally:
        process.kill()
