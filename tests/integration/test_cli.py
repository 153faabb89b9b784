"""End to end through the command line, as the README's first request shows it:
`run` in one process, `simulate-dms` and `ask` in others, on the real broker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from gateway.settings import PROJECT_ROOT
from gateway.tools.simulator import applicant_for, registration_number
from tests.integration.conftest import settings_for
from tests.support.processes import GatewayProcess, environment, free_port


async def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_simulate_then_ask_as_the_applicant_the_operator_and_a_stranger(
    kafka_bootstrap: str, tmp_path: Path
):
    settings = settings_for(kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    env = environment(settings, http_port=free_port())
    gateway = GatewayProcess(env, tmp_path / "gateway.log").start()
    try:
        await gateway.ready()
        simulated = await cli(env, "simulate-dms", "--letters", "20", "--seed", "1")
        assert simulated.returncode == 0, simulated.stderr
        assert "published" in simulated.stdout

        number, applicant = registration_number(7), applicant_for(7).identifier
        for _ in range(60):  # ingestion is asynchronous: ask until the letter is there
            answer = await cli(env, "ask", number, "--user", applicant, "--timeout", "10")
            if answer.returncode == 0:
                break
            await asyncio.sleep(0.5)
        assert answer.returncode == 0, answer.stdout + answer.stderr
        assert f"Registration number : {number}" in answer.stdout
        assert "Executor phone      : +994" in answer.stdout

        operator = await cli(env, "ask", number, "--operator", "OP-7", "--xml")
        assert operator.returncode == 0 and "<statusCode>" in operator.stdout

        stranger = await cli(env, "ask", number, "--user", "0AAAAAA")
        assert stranger.returncode == 1 and "FAULT NOT_FOUND" in stranger.stdout
        malformed = await cli(env, "ask", "12345", "--user", applicant)
        assert malformed.returncode == 1 and "MALFORMED_REGISTRATION_NUMBER" in malformed.stdout
    finally:
        gateway.kill()

    # The gateway's log: one JSON line per request with its ids, never the person's id.
    log = gateway.log_path.read_text(encoding="utf-8", errors="replace")
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    answered = [
        line
        for line in lines
        if line.get("outcome") == "ANSWERED" and line.get("registration_number") == number
    ]
    assert answered and all(line["correlation_id"] and line["message_id"] for line in answered)
    assert applicant not in log and "0AAAAAA" not in log
    assert "+994 12" not in log, "executor phone numbers stay out of the logs"
