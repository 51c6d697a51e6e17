"""A pxelab TFTP server on 127.0.0.1 (ephemeral port) in its own thread's event loop."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pxelab.serve.events import EventLog, read_events
from pxelab.serve.tftp import TftpServer, TftpSettings


@dataclass
class Running:
    server: TftpServer
    root: Path
    events_path: Path
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    log: EventLog
    stopped: bool = field(default=False)

    @property
    def port(self) -> int:
        return self.server.port

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        return [e for e in read_events(self.events_path) if event is None or e["event"] == event]

    def outcomes(self) -> list[dict[str, Any]]:
        return self.events("transfer")

    def wait_outcomes(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first n outcome events, waiting for the server to write them."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.outcomes()
            if len(got) >= n:
                return got
            time.sleep(0.02)
        raise AssertionError(f"expected {n} transfer events, got {self.outcomes()}")

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and self.loop.is_running()

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.log.close()


def start_server(settings: TftpSettings, events_path: Path) -> Running:
    """A TftpServer started in an event loop of its own thread; `stop()` ends both."""
    log = EventLog(events_path)
    server = TftpServer(settings, log)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "TFTP server did not start"
    return Running(server, Path(settings.root), events_path, loop, thread, log)


@pytest.fixture
def tftp_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    return root


@pytest.fixture(params=["threads", "reactor", "worker"])
def engine(request: pytest.FixtureRequest) -> str:
    """Each transfer on its own thread, all on the shared epoll thread, or in a worker process."""
    return request.param


@pytest.fixture
def serve(tftp_root: Path, tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(**overrides: Any) -> Running:
        engine = overrides.pop("engine", "threads")
        if engine == "reactor":
            overrides.update(transfer_threads=0, workers=0)
        elif engine == "worker":
            overrides.update(transfer_threads=0, workers=1)
        else:
            overrides.setdefault("workers", 0)
        settings = TftpSettings(root=overrides.pop("root", tftp_root), listen="127.0.0.1",
                                port=0, **overrides)
        r = start_server(settings, tmp_path / f"events-{len(started)}.jsonl")
        started.append(r)
        if engine == "worker":
            asyncio.run_coroutine_threadsafe(r.server.start_workers(), r.loop).result(30)
            assert r.server._workers, "no worker process"
        return r

    yield start
    for r in started:
        r.stop()


def make_file(root: Path, name: str, size: int, seed: int = 0) -> bytes:
    """A file of `size` pseudo-random bytes under root (content differs per seed)."""
    import random

    data = random.Random(seed or size).randbytes(size)
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o644)
    return data
