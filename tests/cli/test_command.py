"""The `pxelab` command as a user meets it: help, version, bad arguments, doctor."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pxelab import __version__, doctor


def pxelab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pxelab", *args], capture_output=True, text=True, timeout=60
    )


def test_version() -> None:
    proc = pxelab("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"pxelab {__version__}"


def test_help_lists_doctor() -> None:
    proc = pxelab("--help")
    assert proc.returncode == 0
    assert "doctor" in proc.stdout


@pytest.mark.parametrize(
    "args",
    [("no-such-command",), ("doctor", "--no-such-flag"), ("--bogus",)],
)
def test_bad_arguments_exit_2_with_one_line(args: tuple[str, ...]) -> None:
    proc = pxelab(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pxelab")
    assert "error:" in lines[0]


def test_doctor_reports_every_requirement() -> None:
    proc = pxelab("doctor")
    missing = doctor.missing()
    assert proc.returncode == (1 if missing else 0), proc.stdout
    for req in doctor.REQUIREMENTS:
        assert req.package in proc.stdout
    if not missing:
        assert "all present" in proc.stdout


def test_doctor_sees_a_missing_package(tmp_path) -> None:
    fake = doctor.Requirement("pxelab-no-such-package", str(tmp_path / "absent"), "nothing")
    real = doctor.Requirement("coreutils", "/bin/ls", "ls")
    assert doctor.missing((fake, real)) == [fake]


def test_doctor_apt_line() -> None:
    cmd = doctor.apt_command(["atftp", "dnsmasq"])
    assert cmd[:3] == ["apt-get", "install", "-y"]
    assert cmd[-2:] == ["atftp", "dnsmasq"]
