"""A seed tree and its dnsmasq.conf in a world-readable temporary directory.

pytest's tmp_path sits under /tmp/pytest-of-<user> (mode 0700), which the unprivileged user a
TFTP server drops to cannot enter: a real server could not serve from there either, and
`pxelab check` says so. These trees live in their own 0755 directory instead.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxelab.lab.services.tftptree import SEED_DIR, seed_tree, write_dnsmasq_conf


@pytest.fixture
def seed_lab() -> Iterator[tuple[Path, Path]]:
    """(dnsmasq.conf, tftp root) of the seed, verbatim but for tftp-root."""
    base = Path(tempfile.mkdtemp(prefix="pxelab-check-"))
    try:
        base.chmod(0o755)
        root = seed_tree(base / "tftpboot")
        conf = write_dnsmasq_conf(SEED_DIR / "dnsmasq.conf", base / "dnsmasq.conf", root)
        yield conf, root
    finally:
        shutil.rmtree(base, ignore_errors=True)
