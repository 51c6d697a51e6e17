"""A real VM's screen as a PNG (QMP screendump), and a serial-only machine that has none."""

from __future__ import annotations

import pytest
from PIL import Image

from pxelab.lab.machines.vm import VM, VMError
from pxelab.lab.network.topology import Lab

pytestmark = [pytest.mark.lab, pytest.mark.qemu]


@pytest.fixture
def lab():
    with Lab() as lab:
        yield lab


def test_a_vm_screendump_is_a_png_of_what_the_firmware_drew(lab, tmp_path):
    # No servers on this lab: iPXE comes up and asks for DHCP, which is text on the VGA screen.
    with VM("pc-bios", lab=lab, tap=lab.add_tap("vm0"), workdir=tmp_path, accel="tcg") as vm:
        vm.console.wait_for_text("iPXE", timeout=180)
        assert vm.has_display
        shot = vm.screenshot(tmp_path / "shots" / "vm0.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(shot) as im:
        assert im.width >= 320 and im.height >= 200
        lo, hi = im.convert("L").getextrema()
    assert hi - lo > 50, "the screen is blank"


def test_a_machine_without_a_vga_has_no_display(lab, tmp_path):
    vm = VM("pc-bios", lab=lab, tap=lab.add_tap("vm1"), workdir=tmp_path, accel="tcg",
            extra_args=["-vga", "none"])  # fmt: skip
    with vm:
        assert not vm.has_display
        with pytest.raises(VMError, match="no screen"):
            vm.screenshot(tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
