"""Print the fault suite's results (one JSON line per scenario, written by the tests) as a
table: `python -m tests.reliability.report [RESULTS_FILE]`. Exit 1 if any scenario lost an
event, applied one twice in effect, or gave a wrong answer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.reliability.harness import RESULTS_FILE

COLUMNS = [
    ("scenario", "scenario", 32),
    ("events_sent", "events sent", 11),
    ("events_in_store", "in store", 9),
    ("lost", "lost", 5),
    ("duplicated", "dup.effect", 10),
    ("requests_sent", "requests", 8),
    ("answered", "answered", 8),
    ("faulted", "faulted", 7),
    ("timed_out", "timeout", 7),
    ("wrong_answers", "wrong", 5),
    ("recovery_s", "recovery s", 10),
]


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else RESULTS_FILE
    if not path.exists():
        print(f"no results in {path}")
        return 1
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    print(" | ".join(title.ljust(width) for _, title, width in COLUMNS))
    print("-+-".join("-" * width for _, _, width in COLUMNS))
    bad = False
    for row in rows:
        cells = []
        for key, _, width in COLUMNS:
            value = row.get(key)
            text = "-" if value is None else f"{value:.1f}" if isinstance(value, float) else value
            cells.append(
                str(text).ljust(width)[:width] if key == "scenario" else str(text).rjust(width)
            )
        print(" | ".join(cells))
        bad |= bool(row.get("lost") or row.get("duplicated") or row.get("wrong_answers"))
    print()
    for row in rows:
        print(f"- {row['scenario']}: {row.get('detail', '')}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
