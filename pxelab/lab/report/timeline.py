"""Phases of a scenario run on one clock: what the report's timeline chart draws.

A phase is a named span (`network`, `services`, `client c0`, ...). The runner opens and closes
them; a progress callback hears each phase change, so the CLI can show "phase, elapsed".
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass
class Phase:
    name: str
    start_s: float
    duration_s: float | None = None

    def as_dict(self) -> dict[str, float | str]:
        return {
            "name": self.name,
            "start_s": round(self.start_s, 3),
            "duration_s": round(self.duration_s or 0.0, 3),
        }


class Timeline:
    def __init__(self, on_phase: Callable[[str], None] | None = None) -> None:
        self.t0 = time.monotonic()
        self.wall0 = time.time()  # server events carry wall-clock stamps
        self.phases: list[Phase] = []
        self._on_phase = on_phase

    def now(self) -> float:
        return time.monotonic() - self.t0

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[Phase]:
        p = Phase(name, self.now())
        self.phases.append(p)
        if self._on_phase:
            self._on_phase(name)
        try:
            yield p
        finally:
            p.duration_s = self.now() - p.start_s

    def add(self, name: str, start_s: float, duration_s: float) -> None:
        """A phase measured elsewhere (e.g. from console timestamps), on this clock."""
        self.phases.append(Phase(name, start_s, max(0.0, duration_s)))

    def at_wall(self, ts: float) -> float:
        """A wall-clock time (an event's `ts`) on this timeline's clock."""
        return ts - self.wall0

    def as_list(self) -> list[dict[str, float | str]]:
        return [p.as_dict() for p in sorted(self.phases, key=lambda p: p.start_s)]
