"""`pxelab probe` arguments that fail before any packet is sent (no root needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pxelab", "probe", *args],
                          capture_output=True, text=True, timeout=60)


def test_list_profiles_needs_no_interface() -> None:
    proc = _probe("--list-profiles")
    assert proc.returncode == 0
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert "pxe-2.0-rom" in names and "edk2-uefi-x64" in names and "ipxe" in names


def test_unknown_profile_is_refused_with_the_shipped_list() -> None:
    proc = _probe("--interface", "lo", "--profile", "no-such-rom")
    assert proc.returncode == 2
    assert "no client profile 'no-such-rom'" in proc.stderr and "pxe-2.0-rom" in proc.stderr


def test_interface_is_required() -> None:
    proc = _probe("--json")
    assert proc.returncode == 2 and "--interface is required" in proc.stderr


@pytest.mark.lab
def test_pxe_menu_local_boot_item_ends_network_boot() -> None:
    from tests.client.conftest import probe, pxe_segment

    with pxe_segment() as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--pxe-item", "2")
    assert rc == 0 and data["reached"] == "local-boot"
    assert data["boot_file"] is None and data["tftp"] == []
    assert any("type 0" in e["event"] for e in data["timeline"])
