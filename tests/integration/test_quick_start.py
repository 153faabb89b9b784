"""The README's Quick start, word for word: `make run` in one terminal, the commands of "Send a
first request" in another, with the default ports and with changed ones. The second terminal
has no GATEWAY_ variables: the commands find the broker `make run` recorded under var/."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from gateway.settings import PROJECT_ROOT
from gateway.tools import local_kafka
from gateway.tools.addresses import RUN_FILE
from tests.support.processes import free_port
from tests.support.waiting import eventually

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
LOCAL_KAFKA_DIR = PROJECT_ROOT / "var" / "kafka"


def _section_blocks(heading: str) -> list[str]:
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```[a-z]*\n(.*?)```", section, flags=re.S)


def first_request_commands() -> list[list[str]]:
    block = _section_blocks("### Send a first request")[0]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def expected_output() -> list[str]:
    block = _section_blocks("### Send a first request")[1]
    return [line for line in block.splitlines() if line.strip() and line.strip() != "..."]


def terminal_environment(**gateway: int) -> dict[str, str]:
    """A fresh terminal: no GATEWAY_ variables but the ones the README's command line sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({f"GATEWAY_{k.upper()}": str(v) for k, v in gateway.items()})
    return env


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def run_in_terminal(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(
        subprocess.run, command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )


async def quick_start(tmp_path: Path, broker: int, web: int, **env_ports: int) -> None:
    if local_kafka.is_running(LOCAL_KAFKA_DIR):
        pytest.skip("a local broker from another `make run` is running in var/kafka")
    busy = [p for p in (broker, broker + 1, web) if port_in_use(p)]
    if busy:
        pytest.skip(f"ports {busy} are in use on this machine")
    log = (tmp_path / "make-run.log").open("wb")
    make_run = subprocess.Popen(  # a terminal's own process group, as Ctrl-C signals it
        ["make", "run"],
        cwd=PROJECT_ROOT,
        env=terminal_environment(**env_ports),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output = tmp_path / "make-run.log"
    try:
        ready = f"gateway ready: Kafka broker 127.0.0.1:{broker}; health "
        await eventually(
            lambda: asyncio.to_thread(output.read_text, errors="replace"),
            lambda text: ready in text or make_run.poll() is not None,
            timeout=180,
        )
        text = output.read_text(errors="replace")
        assert ready in text, text[-3000:]
        assert f"http://127.0.0.1:{web}/health/ready" in text
        assert f"http://127.0.0.1:{web}/metrics" in text
        assert json.loads(RUN_FILE.read_text())["bootstrap"] == f"127.0.0.1:{broker}"

        second_terminal = terminal_environment()
        simulate, ask = first_request_commands()
        simulated = await run_in_terminal(simulate, second_terminal)
        assert simulated.returncode == 0, simulated.stdout + simulated.stderr
        for _ in range(40):  # ingestion is asynchronous: a newcomer asks again
            answer = await run_in_terminal(ask, second_terminal)
            if answer.returncode == 0:
                break
            await asyncio.sleep(0.5)
        assert answer.returncode == 0, answer.stdout + answer.stderr
        assert answer.stdout.splitlines()[: len(expected_output())] == expected_output()
    finally:
        os.killpg(make_run.pid, signal.SIGINT)  # Ctrl-C
        try:
            code = await asyncio.to_thread(make_run.wait, 60)
        except subprocess.TimeoutExpired:
            os.killpg(make_run.pid, signal.SIGKILL)
            raise
        finally:
            log.close()
            if local_kafka.is_running(LOCAL_KAFKA_DIR):
                local_kafka.stop(LOCAL_KAFKA_DIR)
    # make itself ends by the SIGINT; the gateway under it stops cleanly and forgets var/.
    assert code in (0, -signal.SIGINT, 2), code
    assert '"gateway stopped"' in output.read_text(errors="replace")
    assert not RUN_FILE.exists()


async def test_the_quick_start_word_for_word_on_the_default_ports(tmp_path: Path):
    await quick_start(tmp_path, 19092, 8080)


async def test_the_quick_start_word_for_word_on_changed_ports(tmp_path: Path):
    kafka, http = free_port(), free_port()
    await quick_start(tmp_path, kafka, http, local_kafka_port=kafka, http_port=http)


async def test_ask_and_simulate_say_in_one_line_when_no_broker_answers():
    env = terminal_environment()
    for command in first_request_commands():
        done = await run_in_terminal([*command, "--bootstrap", f"127.0.0.1:{free_port()}"], env)
        assert done.returncode == 2 and done.stderr == "", done.stderr
        [line] = done.stdout.splitlines()
        assert "no Kafka broker answers at 127.0.0.1:" in line and "make run" in line
