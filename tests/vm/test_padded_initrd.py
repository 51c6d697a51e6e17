"""The large initrd of the HTTP boot scenario: the guest's initrd padded with NUL bytes."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from pxelab.lab.machines import guest


def test_padded_keeps_the_archive_and_costs_no_disk(tmp_path: Path) -> None:
    src = tmp_path / "initrd"
    archive = gzip.compress(b"070701" + os.urandom(5000), mtime=0)
    src.write_bytes(archive)
    out = guest.padded(src, tmp_path / "initrd-64m", 64 << 20)
    assert out.stat().st_size == 64 << 20
    data = out.read_bytes()
    assert data[: len(archive)] == archive and data[len(archive):].count(0) == len(data) - len(
        archive)
    # what the kernel's unpacker does (NULs after a compressed archive are skipped): gzip too
    assert gzip.decompress(data) == gzip.decompress(archive)
    assert out.stat().st_blocks * 512 < 8 << 20  # sparse: the padding is not on disk
    st = out.stat()
    assert guest.padded(src, out, 64 << 20).stat().st_mtime_ns == st.st_mtime_ns  # reused
    os.utime(src, ns=(st.st_mtime_ns + 10**9, st.st_mtime_ns + 10**9))  # source rebuilt
    src.write_bytes(archive + b"x")
    os.utime(src, ns=(st.st_mtime_ns + 10**9, st.st_mtime_ns + 10**9))
    assert guest.padded(src, out, 64 << 20).read_bytes()[len(archive)] == ord("x")
    with pytest.raises(guest.GuestError, match="more than"):
        guest.padded(src, tmp_path / "small", 100)


def test_initrd_64m_is_a_known_artifact(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    small = tmp_path / "initrd"
    small.write_bytes(gzip.compress(b"x"))
    monkeypatch.setattr(guest, "build", lambda cache=None: {"initrd": small})
    path = guest.artifact("initrd-64m", tmp_path)
    assert path == tmp_path / "initrd-64m" and path.stat().st_size == 64 << 20
    with pytest.raises(guest.GuestError, match="initrd-64m"):
        guest.artifact("initrd-1g", tmp_path)
