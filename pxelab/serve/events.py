"""Structured events as JSON lines: what the lab reads to check what a client asked for.

One event per line: {"ts": <unix seconds>, "service": "tftp"|"proxydhcp"|"router", "event": <name>,
...fields}. The clock is passed in by the caller's loop so tests can read events in order.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import IO, Any


class EventLog:
    """Appends events to a file (line-buffered, so a reader sees each event as it happens)."""

    def __init__(self, path: str | Path | None = None, *, stream: IO[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._own = False
        self._fh: IO[str] | None = stream
        if path is not None:
            self._fh = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
            self._own = True

    @property
    def enabled(self) -> bool:
        return self._fh is not None

    def emit(self, service: str, event: str, **fields: Any) -> None:
        if self._fh is None:
            return
        record = {"ts": round(time.time(), 6), "service": service, "event": event, **fields}
        line = json.dumps(record, default=str, separators=(",", ":"))
        with self._lock:
            self._fh.write(line + "\n")

    def close(self) -> None:
        if self._fh is not None and self._own:
            self._fh.close()
        self._fh = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Every event in a JSON-lines file, in order, skipping a torn last line."""
    out: list[dict[str, Any]] = []
    p = Path(path)
    if not p.exists():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
