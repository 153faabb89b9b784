"""Readiness: each part of the gateway reports whether it can do its work, and why not."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Readiness:
    problems: dict[str, str] = field(default_factory=dict)
    # Reported on /health/ready without making the gateway unready (e.g. a calendar year the
    # working-day calendar lacks: answers go on, with provisional due dates).
    notes: dict[str, str] = field(default_factory=dict)

    def fail(self, component: str, reason: str) -> None:
        self.problems[component] = reason

    def ok(self, component: str) -> None:
        self.problems.pop(component, None)

    @property
    def ready(self) -> bool:
        return not self.problems
