"""Test tiers, by what a test needs:

- no marker: a plain process (unit tests);
- `lab`: network namespaces, built in the test process or by `pxelab lab`. Root has them; an
  ordinary user gets them with `pytest --lab-userns` (pxelab.pytest_plugin), which runs the
  whole pytest inside a user namespace of its own, root only inside it (issue 17);
- `root`: host root, which no user namespace gives (apt, a port below 1024 or an interface of
  the host, the systemd unit, tools that change uid). Skipped elsewhere, with the reason;
- `qemu`: boots real firmware, which needs no privilege (TCG); with `lab` when it boots in a lab.

As root (CI) they all run, and a missing system tool is a failure, not a skip: `pxelab doctor
--install` is what puts them there.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from pxelab.lab.network import userns
from pxelab.lab.network.topology import LEDGER_ENV

# No per-example deadline: CI shares two cores with QEMU guests, and a slow example is not a bug.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
# `nox -s fuzz`: the long form of the decoder fuzzing.
settings.register_profile(
    "fuzz", deadline=None, max_examples=100_000, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Root of the host, or root only inside a user namespace (the --lab-userns run): labs work in
# both, what needs host root only in the first.
HOST_ROOT = userns.host_root()
NAMESPACES = os.geteuid() == 0
RUN_ENV = "PXELAB_TEST_RUN"
RUN_TOKEN = os.environ.get(RUN_ENV) or secrets.token_hex(4)

ROOT_REASON = (
    "needs host root (apt, a port below 1024 or an interface of the host, the systemd unit, a "
    "tool that changes uid): run as root, e.g. `sudo nox -s tests -- root`"
)


def _lab_skip(config: pytest.Config) -> pytest.MarkDecorator | None:
    """Why the `lab` tests cannot run in this process, or None when they can."""
    if NAMESPACES:
        return None
    refused = userns.refusal()
    if refused:
        return pytest.mark.skip(reason=f"rootless lab refused: {refused}")
    if config.getoption("lab_userns", default=False):
        # The plugin would have entered the namespace; it did not, and says nothing: a bug.
        return pytest.mark.skip(reason="--lab-userns did not enter a user namespace")
    return pytest.mark.skip(
        reason="needs network namespaces: run pytest with --lab-userns (rootless, in a user "
        "namespace of its own) or as root; `nox -s tests` does"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`root` runs only as host root; `lab` where namespaces can be built (root, or a
    --lab-userns run); `qemu` alone needs nothing (TCG, QEMU's own network). The reason of each
    skip says what to do."""
    if HOST_ROOT:
        return
    root_skip = pytest.mark.skip(
        reason=ROOT_REASON
        if not NAMESPACES
        else ROOT_REASON + "; this run is root only inside a user namespace"
    )
    lab_skip = None
    # Markers, not keywords: every item under tests/lab/ has the keyword "lab" (its package).
    if any(item.get_closest_marker("lab") for item in items):
        lab_skip = _lab_skip(config)
    for item in items:
        if root := item.get_closest_marker("root"):
            # `@pytest.mark.root(reason="...")`: what exactly needs host root, said first.
            why = root.kwargs.get("reason")
            skip = pytest.mark.skip(reason=f"needs host root: {why}") if why else root_skip
            item.add_marker(skip)
        elif lab_skip and item.get_closest_marker("lab"):
            item.add_marker(lab_skip)


def require_tool(name: str) -> str:
    """The path of a system tool the test needs; absent, the test fails and says how to fix it."""
    path = shutil.which(name) or next(
        (p for d in ("/usr/sbin", "/sbin") if os.path.exists(p := os.path.join(d, name))), None
    )
    if path is None:
        pytest.fail(f"{name} is not installed: run `pxelab doctor --install` as root")
    return path


def _own_labs() -> set[str]:
    try:
        return set(Path(os.environ[LEDGER_ENV]).read_text().split())
    except (KeyError, OSError):
        return set()


def _run_mark(pid: str) -> tuple[bool, str | None]:
    """Whether a process belongs to this test run, and the lab it was started for."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False, None
    ours = f"{RUN_ENV}={RUN_TOKEN}".encode() in env
    lab = next((v.split(b"=", 1)[1].decode() for v in env if v.startswith(b"PXELAB_LAB=")), None)
    return ours, lab


def _lab_leftovers() -> set[str]:
    """pxelab- namespaces and QEMU processes alive now that this run's own labs left."""
    labs = _own_labs()
    out = set()
    if shutil.which("ip"):
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
        for line in ns.stdout.splitlines():
            name = line.split()[0] if line.strip() else ""
            parts = name.split("-")
            if name.startswith("pxelab-") and len(parts) > 2 and parts[1] in labs:
                out.add(f"netns {name}")
    ps = subprocess.run(
        ["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True, check=False
    )
    for line in ps.stdout.splitlines():
        pid, stat, args = [*line.split(None, 2), "", ""][:3]
        # A zombie has exited; only pid 1 can still reap it, so it holds nothing.
        if "qemu-system" in args.split(" ", 1)[0] and not stat.startswith("Z"):
            ours, lab = _run_mark(pid)
            if ours or lab in labs:
                out.add(f"process {pid} {args}")
    return out


def pytest_sessionstart(session: pytest.Session) -> None:
    # Workers and every child (labs, QEMU, dnsmasq) inherit these, so what this run started can
    # be told from what a run beside it did.
    if hasattr(session.config, "workerinput"):
        return
    if LEDGER_ENV not in os.environ:
        fd, path = tempfile.mkstemp(prefix="pxelab-ledger-")
        os.close(fd)
        os.environ[LEDGER_ENV] = path
    os.environ.setdefault(RUN_ENV, RUN_TOKEN)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A lab never leaves a namespace or a VM behind, whether its test passed or failed."""
    if not NAMESPACES or hasattr(session.config, "workerinput"):
        return
    left = sorted(_lab_leftovers())
    if left:
        print("\nleft behind by this test run (a teardown bug):\n  " + "\n  ".join(left))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
