"""Gateways as real processes (`python -m gateway run`), configured through GATEWAY_ variables."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gateway.settings import PROJECT_ROOT, Settings
from tests.support.http import get_json


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(settings: Settings, **extra: object) -> dict[str, str]:
    """The environment that makes `Settings()` in a child equal `settings` (fields set)."""
    shown = settings.model_dump(mode="json", include=settings.model_fields_set)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({f"GATEWAY_{k.upper()}": str(v) for k, v in shown.items() if v is not None})
    env.update({f"GATEWAY_{k.upper()}": str(v) for k, v in extra.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


class GatewayProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log_path = env, log
        self.port = int(env["GATEWAY_HTTP_PORT"])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run"],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    async def ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                status, _ = await get_json(self.port, "/health/ready")
                if status == 200:
                    return
            except (httpx.TransportError, ValueError):  # not listening yet
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"not ready within {timeout} s:\n{self.log()}")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout} s:\n{self.log()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill(self) -> None:
        """Tear-down: whatever state the process is in, it is gone afterwards."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]
