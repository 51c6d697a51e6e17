"""What `pxelab lab` prints: a live line per running scenario (phase, elapsed), then a table.

On a terminal the running scenarios share one status line redrawn twice a second; every phase
change is also printed as a line of its own, which is all a CI log (not a terminal) gets.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any


class Progress:
    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.t0 = time.monotonic()
        self.running: dict[str, tuple[str, float]] = {}  # name -> (phase, started)
        self.started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, name: str, phase: str) -> None:
        with self._lock:
            now = time.monotonic()
            start = self.started.setdefault(name, now)
            self.running[name] = (phase, start)
            self._clear()
            self.stream.write(f"[{now - self.t0:6.1f}s] {name}: {phase} ({now - start:.1f}s)\n")
            self._draw()
            self.stream.flush()

    def done(self, name: str) -> None:
        with self._lock:
            self.running.pop(name, None)

    def _clear(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")

    def _draw(self) -> None:
        if not self.tty or not self.running:
            return
        now = time.monotonic()
        parts = [f"{n}: {p} {now - s:.0f}s" for n, (p, s) in sorted(self.running.items())]
        self.stream.write(("running  " + " | ".join(parts))[:200])

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                self._clear()
                self._draw()
                self.stream.flush()

    def start(self) -> None:
        if self.tty:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=1)
        with self._lock:
            self._clear()
            self.stream.flush()


def table(results: Sequence[Any]) -> str:
    rows = [("scenario", "result", "time to menu", "time", "reason")]
    for r in results:
        ttm = f"{r.time_to_menu_s:.1f} s" if r.time_to_menu_s is not None else "-"
        reason = (r.reason or "").splitlines()[0][:90] if r.reason else ""
        rows.append((r.scenario, "passed" if r.passed else "FAILED", ttm,
                     f"{r.duration_s:.1f} s", reason))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for j, row in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:4])) + "  " + row[4])
        if j == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    return "\n".join(lines)
