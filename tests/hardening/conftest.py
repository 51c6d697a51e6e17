"""Fixtures for the hardening tests: a pxelab TFTP server on 127.0.0.1 (ephemeral port)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pxelab.serve.events import EventLog
from pxelab.serve.tftp import TftpServer, TftpSettings


@dataclass
class LoopbackTftp:
    server: TftpServer
    root: Path
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and self.loop.is_running()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def loopback_tftp(tmp_path: Path) -> Iterator[LoopbackTftp]:
    root = tmp_path / "root"
    root.mkdir()
    settings = TftpSettings(root=root, listen="127.0.0.1", port=0, workers=0, retries=2)
    events = EventLog(tmp_path / "events.jsonl")
    server = TftpServer(settings, events)
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
    logging.getLogger("pxelab.tftp").setLevel(logging.INFO)
    srv = LoopbackTftp(server, root, loop, thread)
    yield srv
    srv.stop()
    events.close()
