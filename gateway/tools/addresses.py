"""Where the gateway that `make run` started can be reached: `run` records its broker and HTTP
addresses in var/gateway-run.json while it runs, so `ask` and `simulate-dms` in another
terminal find that broker whatever port it was given."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from gateway.settings import PROJECT_ROOT

RUN_FILE = PROJECT_ROOT / "var" / "gateway-run.json"


def record(bootstrap: str, http: str, path: Path = RUN_FILE) -> None:
    with contextlib.suppress(OSError):  # read-only in an installed image: nothing to share
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"bootstrap": bootstrap, "http": http, "pid": os.getpid()}))


def forget(path: Path = RUN_FILE) -> None:
    """Removes the record if this process wrote it."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def recorded_bootstrap(path: Path = RUN_FILE) -> str | None:
    """The broker of the gateway `run` started, if one recorded it and is still alive."""
    try:
        recorded = json.loads(path.read_text())
        os.kill(int(recorded["pid"]), 0)  # raises if that process is gone
        return str(recorded["bootstrap"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
