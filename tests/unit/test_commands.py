"""The one-off commands build their codecs as the service does: from the settings, through the
one codec factory, so GATEWAY_SCHEMAS_DIR (set by the image) holds for them too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings import PROJECT_ROOT

COMMANDS = {
    "ask": ["ask", "DGK-2026-000001", "--user", "5ZK3R8P", "--timeout", "1"],
    "simulate-dms": ["simulate-dms", "--letters", "1"],
    "rebuild": ["rebuild"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_reads_its_schemas_from_gateway_schemas_dir(command: str, tmp_path: Path):
    """An empty schemas directory stops the command before it reaches the broker or the store,
    with the reason; a command that ignored the setting would load the repository's XSDs and
    then fail to reach the (unreachable) broker instead."""
    empty = tmp_path / "schemas"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {
        "GATEWAY_SCHEMAS_DIR": str(empty),
        "GATEWAY_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # nothing listens there
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "gateway", *COMMANDS[command]],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{command}: XSDs failed to load from {empty}" in done.stderr
    assert not (tmp_path / "gateway.db").exists(), "the store is not touched"
