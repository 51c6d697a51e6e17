"""VM start-up without a network: a launch failure says exit code, command line and stderr."""

from __future__ import annotations

import pytest

from pxelab.lab.machines.vm import VM, VMLaunchError, firmware_runs, resolve_accel

pytestmark = [pytest.mark.qemu]


def test_a_launch_failure_shows_exit_code_command_and_stderr(tmp_path):
    vm = VM("pc-bios", tap="tnotused", workdir=tmp_path, accel="tcg",
            extra_args=["-no-such-option"])
    with pytest.raises(VMLaunchError) as info, vm:
        pass
    err = info.value
    assert err.returncode == 1
    assert "-no-such-option" in err.stderr
    message = str(err)
    assert "exit code 1" in message
    assert "qemu-system-x86_64" in message and "-S" in message.split()
    assert "invalid option" in message
    assert not vm.running


def test_accelerator_can_be_forced_from_the_environment(monkeypatch):
    monkeypatch.setenv("PXELAB_ACCEL", "tcg")
    assert resolve_accel("kvm") == "tcg"
    monkeypatch.setenv("PXELAB_ACCEL", "warp")
    with pytest.raises(RuntimeError, match="unknown accelerator 'warp'"):
        resolve_accel("tcg")


def test_the_kvm_probe_sees_firmware_that_runs_and_firmware_that_does_not():
    # The probe's own check, on an accelerator that works everywhere: iPXE's banner shows.
    assert firmware_runs("qemu-system-x86_64", "tcg", 60) is True
    # And on one that cannot start here: QEMU exits at once, the probe says no.
    assert firmware_runs("qemu-system-x86_64", "no-such-accel", 10) is False
