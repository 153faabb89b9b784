"""The local development broker (deploy/kafka/kafka.sh), used when no cluster is configured."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gateway.settings import PROJECT_ROOT

KAFKA_SCRIPT = PROJECT_ROOT / "deploy" / "kafka" / "kafka.sh"


def is_running(data_dir: Path) -> bool:
    return (
        subprocess.run(
            ["bash", str(KAFKA_SCRIPT), "status", str(data_dir)], capture_output=True
        ).returncode
        == 0
    )


def start(data_dir: Path, port: int) -> None:
    """Fetch (first time only), format and start a single-node KRaft broker; wait until ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["bash", str(KAFKA_SCRIPT), "start", str(data_dir), str(port)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def stop(data_dir: Path) -> None:
    subprocess.run(
        ["bash", str(KAFKA_SCRIPT), "stop", str(data_dir)], check=True, stdout=subprocess.DEVNULL
    )
