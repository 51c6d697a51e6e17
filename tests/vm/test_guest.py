"""The test guest's initramfs, checked with the real cpio tool; the build is a no-op when fresh."""

from __future__ import annotations

import gzip
import subprocess

import pytest

from pxelab.lab.machines import guest as guest_mod
from tests.conftest import require_tool


@pytest.mark.root(reason="extracting the initramfs makes device nodes (mknod)")
def test_initramfs_is_a_newc_archive_cpio_can_list_and_extract(tmp_path):
    cpio = require_tool("cpio")
    busybox = b"\x7fELF fake busybox for the archive test"
    init = (guest_mod.RECIPE_DIR / "init").read_bytes()
    image = guest_mod.make_initramfs(busybox, init, ["sh", "mount"])
    assert image == guest_mod.make_initramfs(busybox, init, ["sh", "mount"])  # reproducible
    raw = gzip.decompress(image)
    listing = subprocess.run([cpio, "-t", "-v"], input=raw, capture_output=True, check=True)
    names = listing.stdout.decode().split("\n")
    assert any(line.endswith(" init") and line.startswith("-rwxr-xr-x") for line in names)
    assert any(line.startswith("crw-------") and line.endswith("dev/console") for line in names)
    assert any("bin/sh -> busybox" in line for line in names)
    out = tmp_path / "root"
    out.mkdir()
    subprocess.run([cpio, "-i", "-d", "--no-absolute-filenames"], input=raw, cwd=out,
                   capture_output=True, check=True)
    assert (out / "init").read_bytes() == init
    assert (out / "bin/busybox").read_bytes() == busybox
    assert b"PXELAB-GUEST-CMDLINE: " in init and b"/proc/cmdline" in init


@pytest.mark.root(
    reason="the `guest` fixture may build the guest with apt (Debian packages from the network), "
    "which a lab's namespace has not, and it checks the host's cache that the root run built"
)
def test_built_guest_is_reused_while_the_recipe_is_unchanged(guest):
    mtimes = {name: path.stat().st_mtime_ns for name, path in guest.items()}
    again = guest_mod.build()
    # Reused, not rebuilt: no file was written again (behaviour, not a stopwatch; a slow
    # shared machine must not fail this, and a fast rebuild must not pass it).
    assert {n: p.stat().st_mtime_ns for n, p in again.items()} == mtimes
    assert guest_mod.artifact("kernel-686") == guest["kernel-686"]
    with pytest.raises(guest_mod.GuestError, match="unknown guest artifact"):
        guest_mod.artifact("kernel-sparc")
    # The kernels are bzImages ("HdrS" at 0x202), the initrd a gzip stream.
    for name in ("kernel-amd64", "kernel-686"):
        assert guest[name].read_bytes()[0x202:0x206] == b"HdrS"
    assert guest["initrd"].read_bytes()[:2] == b"\x1f\x8b"
