"""The lab without root (issue 17): the refusal line, and SIGKILL of the runner mid-boot.

The refusal is made inside a user namespace of this test's own whose user.max_user_namespaces
is 0; the host's setting is never touched. The SIGKILL test runs the real `pxelab lab` through
the user-namespace path (forced with PXELAB_USERNS=1 when the test runs as root) and looks for
anything of it left in the host: a process, a namespace, a mount.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pxelab.lab.network import userns

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab


def test_single_uid_reads_the_map() -> None:
    assert userns.single_uid("         0       1001          1\n")
    assert not userns.single_uid("         0          0 4294967295\n")
    assert not userns.single_uid("0 1001 1\n1 100000 65536\n")


def _in_capped_namespace(code: str) -> subprocess.CompletedProcess[str]:
    """`code` run by Python in a user namespace whose own max_user_namespaces is 0."""
    if shutil.which("unshare") is None or not userns.can_enter():
        pytest.skip("unprivileged user namespaces are not available here")
    script = f"echo 0 > /proc/sys/user/max_user_namespaces && exec {sys.executable} -c '{code}'"
    env = {**os.environ, userns.INSIDE_ENV: userns.FORCE_VALUE}
    return subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script],
                          capture_output=True, text=True, timeout=120, env=env)  # fmt: skip


def test_refusal_names_the_knob_and_exits_2() -> None:
    proc = _in_capped_namespace(
        "import sys; from pxelab.cli import main; "
        'sys.exit(main(["lab", "' + str(REPO / "scenarios/seed-tinycore") + '"]))'
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "user.max_user_namespaces = 0" in lines[0]
    assert "run as root, or allow unprivileged user namespaces with" in lines[0]


def test_refusal_without_a_knob_is_still_one_line() -> None:
    # No sysctl to blame (an empty /proc/sys): the real unshare is refused all the same, as a
    # seccomp filter in a container refuses it.
    proc = _in_capped_namespace(
        "import pathlib, tempfile; from pxelab.lab.network import userns; "
        "print(userns.refusal(pathlib.Path(tempfile.mkdtemp())))"
    )
    assert proc.returncode == 0, proc.stderr
    assert "seccomp" in proc.stdout and "run as root, or allow" in proc.stdout, proc.stdout


def _marked(token: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if f"PXELAB_KILL_TEST={token}".encode() in env and state != "Z":
            out.append(int(entry.name))
    return out


@pytest.mark.qemu
def test_sigkill_mid_boot_leaves_nothing_in_the_host(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or not userns.can_enter():
        pytest.skip("unprivileged user namespaces are not available here")
    # The seed's lab, with a menu the VM never shows: left alone it would wait out its client
    # timeout, far longer than the deadline below for everything to be gone.
    scn = tmp_path / "scn"
    shutil.copytree(REPO / "scenarios/seed-tinycore", scn)
    toml = scn / "scenario.toml"
    text = (
        toml.read_text()
        .replace("timeout = 60", "timeout = 240")
        .replace("timeout = 120", "timeout = 300")
    )
    toml.write_text(text.replace('title = "PXE Boot Menu"', 'title = "never shown"'))
    token = secrets.token_hex(4)
    ledger = tmp_path / "ledger"
    ledger.write_text("")
    env = {**os.environ, "PXELAB_KILL_TEST": token, "PXELAB_LAB_LEDGER": str(ledger),
           userns.INSIDE_ENV: userns.FORCE_VALUE}  # fmt: skip
    runner = subprocess.Popen(
        [sys.executable, "-m", "pxelab", "lab", str(scn)],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        qemu: list[int] = []
        deadline = time.monotonic() + 300
        while not qemu and time.monotonic() < deadline and runner.poll() is None:
            qemu = [
                p
                for p in _marked(token)
                if b"qemu-system" in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0]
            ]
            time.sleep(0.1)
        assert qemu, "QEMU never started"
        # really in the lab's own user namespace, not the host's
        assert os.readlink(f"/proc/{qemu[0]}/ns/user") != os.readlink("/proc/self/ns/user")
        runner.kill()
        runner.wait(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    left: list[int] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (left := _marked(token)):
        time.sleep(0.1)
    assert not left, f"left running: {left}"
    labs = ledger.read_text().split()
    assert labs, "the lab never started"
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    mounts = Path("/proc/self/mountinfo").read_text()
    for lab in labs:
        assert f"pxelab-{lab}-" not in names
        assert f"pxelab-{lab}-" not in mounts
    assert "pxelab-run" not in mounts


def test_sigterm_reaches_the_lab_inside(tmp_path: Path) -> None:
    # unshare ignores SIGTERM; the runner hands it on, so `kill PID` still ends a lab.
    if shutil.which("unshare") is None or not userns.can_enter():
        pytest.skip("unprivileged user namespaces are not available here")
    env = {**os.environ, userns.INSIDE_ENV: userns.FORCE_VALUE}
    code = ("import signal, sys, time; from pxelab.lab.network import userns; "
            "sys.exit(userns.enter([sys.executable, '-c', "
            "'import signal,sys,time; signal.signal(15, lambda *a: sys.exit(7)); "
            "print(1, flush=True); time.sleep(60)']))")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "1"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 7


def test_serve_privilege_drop_is_skipped_in_a_one_uid_namespace() -> None:
    if shutil.which("unshare") is None or not userns.can_enter():
        pytest.skip("unprivileged user namespaces are not available here")
    code = ("import logging; logging.basicConfig(level=logging.INFO); "
            "from pxelab.serve.privileges import PrivilegeDrop; "
            "d = PrivilegeDrop.for_user(\"nobody\"); d.prepare(); d.finish()")  # fmt: skip
    proc = subprocess.run(["unshare", "--user", "--map-root-user", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "in a user namespace that maps one uid" in proc.stderr
    assert "not dropping to nobody" in proc.stderr


def test_dnsmasq_starts_in_a_one_uid_namespace(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or not userns.can_enter():
        pytest.skip("unprivileged user namespaces are not available here")
    if shutil.which("dnsmasq") is None and not Path("/usr/sbin/dnsmasq").exists():
        pytest.fail("dnsmasq is not installed: run `pxelab doctor --install` as root")
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text("port=0\n")
    code = ("import subprocess, sys; from pathlib import Path; "
            "from pxelab.lab.services.commands import dnsmasq_command; "
            f"argv = dnsmasq_command(Path({str(conf)!r}), Path({str(tmp_path / 'pid')!r})); "
            "p = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True); "
            "line = p.stderr.readline(); p.terminate(); p.wait(); print(line)")  # fmt: skip
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--net", sys.executable, "-c",
                           code], capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert "started" in proc.stdout, proc.stdout + proc.stderr
