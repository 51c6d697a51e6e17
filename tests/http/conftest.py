"""A pxelab HTTP server on 127.0.0.1 (ephemeral port) in its own thread's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pxelab.serve.events import EventLog, read_events
from pxelab.serve.http import HttpServer, HttpSettings
from pxelab.serve.metrics import Metrics, MetricsEventLog


@dataclass
class Running:
    server: HttpServer
    root: Path
    outside: Path
    events_path: Path
    metrics: Metrics
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        return [e for e in read_events(self.events_path) if event is None or e["event"] == event]


@contextlib.contextmanager
def start_http(tmp_path: Path, **settings: Any) -> Iterator[Running]:
    """A server on 127.0.0.1 with `root/` and `outside/` under tmp_path; `settings` are
    HttpSettings fields (header_timeout=..., keepalive_timeout=...)."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    events_path = tmp_path / "events.jsonl"
    metrics = Metrics()
    log: EventLog = MetricsEventLog(metrics, events_path)
    server = HttpServer(HttpSettings(root=root, listen="127.0.0.1", port=0, **settings), log)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield Running(server, root, outside, events_path, metrics, loop, thread)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        log.close()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[Running]:
    with start_http(tmp_path) as run:
        yield run
