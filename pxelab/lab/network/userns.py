"""The lab without root: the runner re-executes itself in namespaces of its own.

An ordinary user cannot create network namespaces in the host, but may create a user namespace
and, inside it, everything the lab needs (issue 17, measured on this machine). So `pxelab lab`
run by a user becomes::

    unshare --user --map-root-user --mount --net --pid --fork --kill-child --mount-proc \\
        PYTHON -m pxelab.lab.network.userns --inside -- PYTHON <the runner's own argv>

- `--user --map-root-user`: uid 0 inside is the user outside, and only that one uid is mapped
  (so nothing inside can become another uid: see `single_uid()`); files it writes belong to
  the user.
- `--mount`: a private mount namespace, in which `--inside` puts a tmpfs on /run, so that
  `ip netns add` finds a /run/netns of its own and nothing is mounted in the host.
- `--net`: the lab's namespaces hang off a network namespace with no way out.
- `--pid --fork --kill-child --mount-proc`: unshare's child is pid 1 of a pid namespace of its
  own. When `unshare` dies, even by SIGKILL, the kernel kills that pid 1 (PR_SET_PDEATHSIG),
  and with it every process of the namespace; the mount and network namespaces go with their
  last process. Nothing is left to clean up.

The runner the user started stays `unshare`'s parent, and arms the same death signal on it: a
SIGKILL of the runner kills unshare, which kills pid 1, which ends the namespace. unshare
ignores SIGTERM and SIGINT, so the runner hands those to pid 1 itself.

pid 1 is `--inside`: a small init that starts the runner as its child, hands it SIGTERM,
SIGINT and SIGHUP, reaps the orphans that a pid 1 must reap, and exits with the runner's code.

    from pxelab.lab.network import userns
    code = userns.enter_if_needed()     # None: go on here (root, or already inside)
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

# Set in the runner inside the namespaces: never enter twice; and the uid outside, for messages.
INSIDE_ENV = "PXELAB_USERNS"
# `PXELAB_USERNS=1` asks for the namespaces even as root (tests of this path, a sealed lab).
FORCE_VALUE = "1"
_INSIDE_TAG = "inside:uid="

UNSHARE_FLAGS = ("--user", "--map-root-user", "--mount", "--net", "--pid", "--fork",
                 "--kill-child", "--mount-proc")  # fmt: skip

_WAY_OUT = "run as root, or allow unprivileged user namespaces with"


def single_uid(uid_map: str | None = None) -> bool:
    """True inside a user namespace that maps exactly one uid (what `unshare -r` makes): there
    no other uid exists, so a privilege drop to `nobody` or `--user=dnsmasq` cannot work."""
    if uid_map is None:
        try:
            uid_map = Path("/proc/self/uid_map").read_text()
        except OSError:
            return False
    lines = [line.split() for line in uid_map.splitlines() if line.strip()]
    return len(lines) == 1 and len(lines[0]) == 3 and lines[0][2] == "1"


def host_root(uid_map: str | None = None) -> bool:
    """Root of the host: uid 0 in the initial user namespace, whose map is the identity over
    every uid. Root inside a user namespace (the lab's, the test tier's) is not."""
    if os.geteuid() != 0:
        return False
    if uid_map is None:
        try:
            uid_map = Path("/proc/self/uid_map").read_text()
        except OSError:
            return True  # no /proc/self/uid_map: a kernel without user namespaces
    return uid_map.split() == ["0", "0", "4294967295"]


def outside_uid() -> int | None:
    """Inside the namespaces `enter` made: the uid that entered them (the user outside)."""
    tag = os.environ.get(INSIDE_ENV, "")
    if not tag.startswith(_INSIDE_TAG) or not single_uid():
        return None
    try:
        return int(tag[len(_INSIDE_TAG) :])
    except ValueError:
        return None


def inside() -> bool:
    """This process runs in the lab's own namespaces (made by `reexec_if_needed`)."""
    return os.environ.get(INSIDE_ENV, "").startswith(_INSIDE_TAG) and single_uid()


def wanted() -> bool:
    """The runner should enter namespaces of its own: not root (or asked to), not yet inside."""
    if inside():
        return False
    return os.geteuid() != 0 or os.environ.get(INSIDE_ENV) == FORCE_VALUE


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def _sysctl_refusal(proc_sys: Path) -> str | None:
    """The kernel knob that forbids unprivileged user namespaces, named with its way out."""

    def knob(name: str) -> int | None:
        return _read_int(str(proc_sys / name.replace(".", "/")))

    if knob("user.max_user_namespaces") == 0:
        return ("user namespaces are disabled (user.max_user_namespaces = 0): "
                f"{_WAY_OUT} `sysctl -w user.max_user_namespaces=10000`")  # fmt: skip
    if knob("kernel.unprivileged_userns_clone") == 0:
        return ("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = "
                f"0): {_WAY_OUT} `sysctl -w kernel.unprivileged_userns_clone=1`")  # fmt: skip
    if knob("kernel.apparmor_restrict_unprivileged_userns") == 1:
        knob_ = "kernel.apparmor_restrict_unprivileged_userns"
        return (f"AppArmor restricts unprivileged user namespaces ({knob_} = 1): "
                f"{_WAY_OUT} `sysctl -w {knob_}=0`")  # fmt: skip
    return None


# What the lab does first inside: a tmpfs on /run and a link set up. A namespace in which these
# fail (AppArmor's restriction lets the unshare succeed and takes the capabilities away) is as
# good as none.
_PROBE = "mount -t tmpfs pxelab-probe /run && ip link set lo up"


def refusal(proc_sys: Path = Path("/proc/sys")) -> str | None:
    """None when this user can build the lab in namespaces of its own; otherwise one line
    naming the knob that refuses it and the way out."""
    found = _sysctl_refusal(proc_sys)
    if found:
        return found
    unshare = shutil.which("unshare")
    if unshare is None:
        return "`unshare` is not installed (package util-linux): run `pxelab doctor --install`"
    try:
        argv = [unshare, *UNSHARE_FLAGS, "sh", "-c", _PROBE]
        env = {**os.environ, "PATH": _path()}
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot try a user namespace ({exc}): run as root"
    if proc.returncode == 0:
        return None
    why = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    return ("the kernel refused an unprivileged user namespace although no sysctl forbids it "
            f"({why}); in a container a seccomp filter does this: {_WAY_OUT} the container's "
            "seccomp profile allowing unshare/clone (e.g. docker --security-opt "
            "seccomp=unconfined)")  # fmt: skip


def can_enter() -> bool:
    return refusal() is None


def _path() -> str:
    # ip and mount live in /usr/sbin, which a user's PATH often lacks.
    have = os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    return os.pathsep.join([*have, *(d for d in ("/usr/sbin", "/sbin") if d not in have)])


def command(argv: list[str]) -> list[str]:
    """The unshare command line that runs `argv` as the lab's init's child."""
    unshare = shutil.which("unshare") or "unshare"
    return [unshare, *UNSHARE_FLAGS, sys.executable, "-m", "pxelab.lab.network.userns",
            "--inside", "--", *argv]  # fmt: skip


def runner_argv() -> list[str]:
    """This process's command line, to run again inside (`pxelab lab ...`, `python -m ...`)."""
    return [sys.executable, *sys.orig_argv[1:]]


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None]:
    def arm() -> None:
        # In the child before exec: unshare gets SIGKILL when the runner dies, however it dies
        # (the signal survives exec of a program that is not set-uid).
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the runner died before the line above
            os._exit(137)

    return arm


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def enter(argv: list[str]) -> int:
    """Run `argv` in namespaces of its own and return its exit code. This process stays the
    parent: SIGTERM, SIGINT and SIGHUP it receives reach the runner inside (unshare itself
    ignores them), and SIGKILL of it takes everything inside along."""
    env = {**os.environ, INSIDE_ENV: f"{_INSIDE_TAG}{os.getuid()}", "PATH": _path()}
    sys.stdout.flush()
    sys.stderr.flush()
    # A session of its own: Ctrl-C reaches this process alone, which hands it on once.
    proc = subprocess.Popen(command(argv), env=env, start_new_session=True,
                            preexec_fn=_die_with_parent(os.getpid()))  # fmt: skip

    def forward(signum: int, frame: object) -> None:
        for pid in _children(proc.pid):  # the pid 1 inside, as the host sees it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, forward)
                    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}  # fmt: skip
    try:
        code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def enter_if_needed(prog: str = "pxelab lab") -> int | None:
    """Not root: run this runner again in namespaces of its own and return its exit code.
    None: go on in this process (root, or already inside). 2 after printing the one line that
    says why the kernel refuses."""
    if not wanted():
        return None
    problem = refusal()
    if problem:
        print(f"{prog}: {problem}", file=sys.stderr, flush=True)
        return 2
    return enter(runner_argv())


# --------------------------------------------------------------------------- inside: pid 1


def _prepare() -> None:
    # Private by unshare's default propagation: the host never sees this mount.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "pxelab-run", "/run"],
                   check=True, timeout=30)  # fmt: skip
    Path("/run/netns").mkdir(mode=0o755, exist_ok=True)
    # A new network namespace starts with its loopback down; what runs inside (a test run)
    # may talk to 127.0.0.1 as it does in the host.
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=30)


def init(argv: list[str]) -> int:
    """pid 1 of the lab's pid namespace: /run mounted, `argv` run as a child, signals handed
    on, orphans reaped; returns the child's exit code."""
    _prepare()
    child = subprocess.Popen(argv)

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    code = 1
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return code
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue
        if pid == child.pid:
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            # The runner is done: what it left running dies with this pid 1 on return.
            return code


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pxelab.lab.network.userns")
    parser.add_argument("--inside", action="store_true", help="be the lab's pid 1 (internal)")
    parser.add_argument(
        "--probe", action="store_true", help="say whether this user can enter the lab's namespaces"
    )
    parser.add_argument("argv", nargs="*")
    ns = parser.parse_args(args)
    if ns.inside:
        return init(ns.argv)
    problem = refusal()
    print(problem or "unprivileged user namespaces: available")
    return 2 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
