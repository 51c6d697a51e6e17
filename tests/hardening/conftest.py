"""Fixtures for the hardening tests: a pxelab TFTP server on 127.0.0.1 (ephemeral port)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxelab.serve.tftp import TftpSettings
from tests.tftp.conftest import Running, start_server


@pytest.fixture
def loopback_tftp(tmp_path: Path) -> Iterator[Running]:
    root = tmp_path / "root"
    root.mkdir()
    settings = TftpSettings(root=root, listen="127.0.0.1", port=0, workers=0, retries=2)
    srv = start_server(settings, tmp_path / "events.jsonl")
    logging.getLogger("pxelab.tftp").setLevel(logging.INFO)
    yield srv
    srv.stop()
