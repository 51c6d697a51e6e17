"""The lab network: one Ethernet segment in network namespaces, built and torn down in a second.

A lab is a Linux bridge (``br0``) in a namespace of its own (``pxelab-<id>-sw``) and hosts: each
host is a namespace ``pxelab-<id>-<host>`` whose ``eth0`` is a veth into the bridge (the bridge
side is called ``v<host>``), or a tap on the bridge for a VM. Taps live in the bridge namespace,
so QEMU must run there too: ``lab.popen_in_bridge([...qemu..., "-netdev",
f"tap,id=n0,ifname={tap},script=no,downscript=no"])``. Nothing is created in the root namespace,
so labs run side by side (pytest-xdist) without clashes; every link carries the interface alias
``pxelab-<id>`` and every process started here the environment variable ``PXELAB_LAB=<id>``, which
is how :func:`cleanup` finds what a killed run left.

Example::

    from pxelab.lab.network.topology import Lab

    with Lab() as lab:                                   # random lab id, 192.168.10.0/24
        rtr = lab.add_host("rtr", ipv4="192.168.10.1/24", ipv6="fd00:10::1/64")
        pc = lab.add_host("pc", ipv4="192.168.10.50/24")
        lab.start_capture("/tmp/lab.pcap")               # tcpdump on br0 until teardown
        srv = rtr.popen(["pxelab", "router", "--interface", "eth0", ...])
        print(pc.run(["ping", "-c1", rtr.ipv4]).returncode)
        lab.impair("pc", loss=10.0, delay_ms=50)         # netem on both sides of pc's cable
        tap = lab.add_tap("vm0")                         # -> "tvm0", in lab.bridge_ns
    # here every process is stopped and every namespace deleted

Teardown always runs: on leaving the ``with`` block, at interpreter exit (atexit) and on SIGTERM
or SIGINT (handlers installed while a lab is alive, if nobody else installed one). What a
SIGKILLed run leaves, ``cleanup()`` (``pxelab lab --cleanup``) removes.

Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN, e.g. inside ``unshare -rm``); ``check_privileges()``
says in one sentence what is missing.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PREFIX = "pxelab-"
BRIDGE = "br0"
ENV_MARK = "PXELAB_LAB"
# When set (the test suite sets it), every Lab appends its id to this file, so a leak check can
# count only the labs its own run made, not those of a run beside it.
LEDGER_ENV = "PXELAB_LAB_LEDGER"
NETNS_DIR = Path("/run/netns")
IFNAMSIZ = 15
STOP_GRACE = 3.0

_CAP_NET_ADMIN = 12
_CAP_SYS_ADMIN = 21


class LabError(RuntimeError):
    """The lab could not be built (missing privilege or tool, bad name, address clash)."""


# --------------------------------------------------------------------------- privileges


def _cap_eff() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _userns_allowed() -> bool:
    clone = Path("/proc/sys/kernel/unprivileged_userns_clone")
    with contextlib.suppress(OSError, ValueError):
        if clone.exists() and int(clone.read_text()) == 0:
            return False
    with contextlib.suppress(OSError, ValueError):
        if int(Path("/proc/sys/user/max_user_namespaces").read_text()) == 0:
            return False
    return True


def check_privileges() -> str | None:
    """None when a lab can be built here; otherwise one sentence saying what is missing."""
    for tool in ("ip", "tc"):
        if _which(tool) is None:
            return f"`{tool}` is not installed (package iproute2): run `pxelab doctor --install`"
    caps = _cap_eff()
    if os.geteuid() != 0 and not (caps >> _CAP_NET_ADMIN) & 1:
        if not _userns_allowed():
            return (
                "not root, no CAP_NET_ADMIN, and unprivileged user namespaces are not allowed "
                "(kernel.unprivileged_userns_clone or user.max_user_namespaces is 0): run as root"
            )
        return (
            "not root and no CAP_NET_ADMIN: run as root, or inside an unprivileged user "
            "namespace (`unshare -rm --propagation private`)"
        )
    if not (caps >> _CAP_SYS_ADMIN) & 1:
        return "no CAP_SYS_ADMIN: network namespaces cannot be created or entered"
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        return "/dev/net/tun is not accessible: taps for VMs cannot be created"
    with contextlib.suppress(OSError):
        NETNS_DIR.mkdir(parents=True, exist_ok=True)
    if not os.access(NETNS_DIR, os.W_OK):
        return f"{NETNS_DIR} is not writable: named network namespaces cannot be created"
    return None


def _which(tool: str) -> str | None:
    return shutil.which(tool) or next(
        (p for d in ("/usr/sbin", "/sbin") if os.path.exists(p := os.path.join(d, tool))), None
    )


# --------------------------------------------------------------------------- helpers


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", *args], capture_output=True, text=True, check=check, timeout=30
    )


_CLONE_NEWNET = 0x40000000


def _in_ns(ns: str, fn: Callable[[Any], T]) -> T:
    """Run fn(IPRoute) with a netlink socket opened inside namespace `ns`.

    A short-lived thread enters the namespace (setns changes only the calling thread) and opens
    a plain IPRoute there. pyroute2's own netns support forks a helper per socket and was seen
    to open the socket in the wrong place now and then on this machine; this path is simple.
    """
    import ctypes

    from pyroute2 import IPRoute

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(NETNS_DIR / ns, os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {ns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            with IPRoute() as ipr:
                box["result"] = fn(ipr)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{ns}")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def _sysctl(key: str, value: str) -> None:
    """Write a sysctl of the calling thread's network namespace (use inside _in_ns)."""
    Path("/proc/sys", *key.split(".")).write_text(value)


def _ns_pids(ns: str) -> list[int]:
    proc = _ip("netns", "pids", ns, check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def _list_netns() -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except OSError:
        return []


def _pids_marked(lab_prefix: str) -> list[int]:
    """Pids whose environment carries PXELAB_LAB=<id> with <id> matching the prefix."""
    want = f"{ENV_MARK}=".encode()
    out = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        for var in env.split(b"\0"):
            if var.startswith(want):
                lab_id = var[len(want) :].decode(errors="replace")
                if f"{PREFIX}{lab_id}-".startswith(lab_prefix) or lab_prefix == PREFIX:
                    out.append(int(entry.name))
                break
    return out


def _kill_pids(pids: Iterable[int], grace: float = 1.0) -> list[int]:
    """SIGTERM, then SIGKILL what is still there after `grace` seconds; returns those signalled."""
    pids = [p for p in set(pids) if p != os.getpid()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.02)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _check_ifname(name: str) -> str:
    if not name or len(name) > IFNAMSIZ or "/" in name or any(c.isspace() for c in name):
        raise LabError(f"interface name {name!r} must be 1-{IFNAMSIZ} characters, no '/' or space")
    return name


# --------------------------------------------------------------------------- hosts


@dataclass
class Host:
    """One namespace on the lab segment, with `eth0` plugged into the bridge."""

    lab: Lab
    name: str
    netns: str
    ifname: str
    mac: str
    ipv4: str | None = None  # address without prefix, e.g. "192.168.10.1"
    ipv4_cidr: str | None = None  # with prefix, e.g. "192.168.10.1/24"
    ipv6: str | None = None  # global/ULA address without prefix, if any
    port: str = ""  # the veth's name on the bridge side
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)

    @property
    def link_local(self) -> str:
        """The IPv6 link-local address of eth0 (derived from the MAC, EUI-64)."""
        return _eui64_link_local(self.mac)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start `argv` in this host's namespace; stopped at teardown (or by `stop`)."""
        return self.lab._popen(self.netns, argv, self.procs, **kwargs)

    def run(
        self, argv: Sequence[str], *, timeout: float | None = 60, check: bool = False, **kwargs: Any
    ) -> subprocess.CompletedProcess[Any]:
        """Run `argv` to completion in this namespace (output captured as text by default)."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        env = dict(kwargs.pop("env", None) or os.environ)
        env[ENV_MARK] = self.lab.lab_id
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, *argv],
            timeout=timeout,
            check=check,
            env=env,
            **kwargs,
        )

    def stop(self, proc: subprocess.Popen[Any], grace: float = STOP_GRACE) -> int | None:
        """SIGTERM the process group, SIGKILL after `grace` s; returns the exit code."""
        return self.lab.stop(proc, grace)


def _eui64_link_local(mac: str) -> str:
    b = bytes.fromhex(mac.replace(":", ""))
    eui = bytes([b[0] ^ 0x02]) + b[1:3] + b"\xff\xfe" + b[3:6]
    return str(ipaddress.IPv6Address(b"\xfe\x80" + b"\0" * 6 + eui))


# --------------------------------------------------------------------------- the lab

_LIVE: dict[int, Lab] = {}  # id(lab) -> lab: every lab alive in this process
_NETEM: bool | None = None
_LIVE_LOCK = threading.Lock()
_HANDLERS_INSTALLED = False
_PREVIOUS: dict[int, Any] = {}


def _teardown_all() -> None:
    with _LIVE_LOCK:
        labs = list(_LIVE.values())
    for lab in labs:
        with contextlib.suppress(Exception):
            lab.close()


def _on_signal(signum: int, frame: Any) -> None:
    _teardown_all()
    previous = _PREVIOUS.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    atexit.register(_teardown_all)
    for sig in (signal.SIGTERM, signal.SIGINT):
        current = signal.getsignal(sig)
        # Keep a handler someone else installed (pytest, an asyncio loop): it chains to ours
        # through KeyboardInterrupt/atexit anyway.
        if current in (signal.SIG_DFL, signal.default_int_handler, None):
            _PREVIOUS[sig] = current
            signal.signal(sig, _on_signal)
    _HANDLERS_INSTALLED = True


class Lab:
    """One Ethernet segment: a bridge namespace plus host namespaces. See the module docstring."""

    def __init__(
        self,
        lab_id: str | None = None,
        subnet: str = "192.168.10.0/24",
        mtu: int = 1500,
    ) -> None:
        self.lab_id = lab_id or secrets.token_hex(3)
        if not self.lab_id.isalnum() or len(self.lab_id) > 8:
            raise LabError(f"lab id {self.lab_id!r} must be 1-8 letters or digits")
        self.subnet = ipaddress.ip_network(subnet, strict=False)
        self.mtu = mtu
        self.prefix = f"{PREFIX}{self.lab_id}-"
        ledger = os.environ.get(LEDGER_ENV)
        if ledger:
            with open(ledger, "a") as f:
                f.write(self.lab_id + "\n")
        self.bridge_ns = f"{self.prefix}sw"
        self.alias = f"{PREFIX}{self.lab_id}"
        self.hosts: dict[str, Host] = {}
        self.taps: list[str] = []
        self._namespaces: list[str] = []
        self._bridge_procs: list[subprocess.Popen[Any]] = []
        self._captures: list[subprocess.Popen[Any]] = []
        self._relays: dict[str, tuple[subprocess.Popen[Any], Any]] = {}
        self._started = False
        self._closed = False
        self._lock = threading.RLock()

    # -- life cycle

    def __enter__(self) -> Lab:
        try:
            self.start()
        except BaseException:
            self.close()  # __exit__ does not run when __enter__ fails
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> Lab:
        """Create the bridge namespace and br0 (done by `with`)."""
        if self._started:
            return self
        problem = check_privileges()
        if problem:
            raise LabError(problem)
        with _LIVE_LOCK:
            _LIVE[id(self)] = self
        _install_handlers()
        self._started = True
        self._create_ns(self.bridge_ns)

        def build(sw: Any) -> None:
            # The switch has no address of its own: no IPv6 on it keeps its RS/MLD out of
            # captures.
            _sysctl("net.ipv6.conf.all.disable_ipv6", "1")
            _sysctl("net.ipv6.conf.default.disable_ipv6", "1")
            # STP off and no multicast snooping: a dumb switch that forwards from the first frame.
            sw.link("add", ifname=BRIDGE, kind="bridge", br_stp_state=0, br_forward_delay=0,
                    br_mcast_snooping=0)
            idx = sw.link_lookup(ifname=BRIDGE)[0]
            sw.link("set", index=idx, mtu=self.mtu, ifalias=self.alias, state="up")
            sw.link("set", index=sw.link_lookup(ifname="lo")[0], state="up")

        _in_ns(self.bridge_ns, build)
        return self

    def close(self) -> None:
        """Stop every process, then delete every namespace. Safe to call more than once."""
        with self._lock:
            if self._closed or not self._started:
                self._closed = True
                return
            self._closed = True
        procs: list[subprocess.Popen[Any]] = list(self._captures) + list(self._bridge_procs)
        for host in self.hosts.values():
            procs.extend(host.procs)
        self._stop_many(procs, STOP_GRACE)
        # Anything still inside (a daemon that forked away from its group) goes by namespace.
        strays: list[int] = []
        for ns in self._namespaces:
            strays.extend(_ns_pids(ns))
        if self._namespaces:  # never another lab's, should two have picked the same id
            strays.extend(_pids_marked(self.prefix))
        if strays:
            _kill_pids(strays, grace=1.0)
        for ns in reversed(self._namespaces):
            _ip("netns", "delete", ns, check=False)
        with _LIVE_LOCK:
            _LIVE.pop(id(self), None)

    # -- building

    def _create_ns(self, name: str) -> None:
        if name in _list_netns():
            raise LabError(f"namespace {name} already exists (another lab with id {self.lab_id}?)")
        proc = _ip("netns", "add", name, check=False)
        if proc.returncode != 0:
            raise LabError(f"ip netns add {name}: {proc.stderr.strip()}")
        self._namespaces.append(name)

    def add_host(
        self,
        name: str,
        ipv4: str | None = None,
        ipv6: str | None = None,
        mac: str | None = None,
        dad: bool = False,
    ) -> Host:
        """A namespace `pxelab-<id>-<name>` with eth0 on the bridge, lo up, IPv6 link-local.

        `ipv4`/`ipv6` take a prefix length ("192.168.10.1/24"); without one the lab subnet's
        prefix is used for IPv4 and /64 for IPv6. Duplicate address detection is off unless
        `dad=True`, so addresses (and the link-local) are usable at once.
        """
        self._require_open()
        if name in self.hosts:
            raise LabError(f"host {name!r} already exists in lab {self.lab_id}")
        port = _check_ifname(f"v{name}")
        ns = f"{self.prefix}{name}"
        self._create_ns(ns)
        host = Host(lab=self, name=name, netns=ns, ifname="eth0", mac="", port=port)

        def prepare(h: Any) -> None:
            # Before eth0 arrives, so it inherits the defaults.
            if not dad:
                _sysctl("net.ipv6.conf.all.accept_dad", "0")
                _sysctl("net.ipv6.conf.default.accept_dad", "0")

        def plug(sw: Any) -> None:
            fd = os.open(NETNS_DIR / ns, os.O_RDONLY)
            try:
                peer: dict[str, Any] = {"ifname": "eth0", "net_ns_fd": fd}
                if mac:
                    peer["address"] = mac.lower()
                sw.link("add", ifname=port, kind="veth", peer=peer)
            finally:
                os.close(fd)
            idx = sw.link_lookup(ifname=port)[0]
            br = sw.link_lookup(ifname=BRIDGE)[0]
            sw.link("set", index=idx, master=br, mtu=self.mtu, ifalias=self.alias, state="up")

        def configure(h: Any) -> None:
            lo = h.link_lookup(ifname="lo")[0]
            h.link("set", index=lo, state="up")
            idx = h.link_lookup(ifname="eth0")[0]
            if not dad:
                _sysctl("net.ipv6.conf.eth0.accept_dad", "0")
            h.link("set", index=idx, mtu=self.mtu, ifalias=self.alias, state="up")
            if ipv4:
                iface = ipaddress.ip_interface(
                    ipv4 if "/" in ipv4 else f"{ipv4}/{self.subnet.prefixlen}"
                )
                h.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
                host.ipv4, host.ipv4_cidr = str(iface.ip), str(iface)
            if ipv6:
                iface6 = ipaddress.ip_interface(ipv6 if "/" in ipv6 else f"{ipv6}/64")
                # IFA_F_NODAD (0x02): usable at once, e.g. as a router's RA source.
                h.addr("add", index=idx, address=str(iface6.ip),
                       prefixlen=iface6.network.prefixlen, flags=0 if dad else 0x02)
                host.ipv6 = str(iface6.ip)
            host.mac = h.get_links(idx)[0].get_attr("IFLA_ADDRESS")

        _in_ns(ns, prepare)
        _in_ns(self.bridge_ns, plug)
        _in_ns(ns, configure)
        self.hosts[name] = host
        return host

    def add_tap(self, name: str, mac: str | None = None) -> str:
        """A tap `t<name>` on the bridge, in the bridge namespace (run QEMU via popen_in_bridge).

        `mac` is not the tap's own address; pass the guest's MAC to QEMU's -device instead.
        """
        self._require_open()
        tap = _check_ifname(f"t{name}")
        _ip("-n", self.bridge_ns, "tuntap", "add", "dev", tap, "mode", "tap")

        def plug(sw: Any) -> None:
            idx = sw.link_lookup(ifname=tap)[0]
            br = sw.link_lookup(ifname=BRIDGE)[0]
            sw.link("set", index=idx, master=br, mtu=self.mtu, ifalias=self.alias, state="up")

        _in_ns(self.bridge_ns, plug)
        self.taps.append(tap)
        return tap

    # -- processes

    def _popen(
        self,
        ns: str,
        argv: Sequence[str],
        registry: list[subprocess.Popen[Any]],
        **kwargs: Any,
    ) -> subprocess.Popen[Any]:
        self._require_open()
        env = dict(kwargs.pop("env", None) or os.environ)
        env[ENV_MARK] = self.lab_id
        kwargs.setdefault("start_new_session", True)  # own process group, stopped as one
        # `ip netns exec` execs the program: the pid we get is the program's pid.
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], env=env, **kwargs)
        registry.append(proc)
        return proc

    def popen_in_bridge(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start `argv` in the bridge namespace (QEMU on a tap); stopped at teardown."""
        return self._popen(self.bridge_ns, argv, self._bridge_procs, **kwargs)

    def run_in_bridge(
        self, argv: Sequence[str], *, timeout: float | None = 60, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.bridge_ns, *argv],
            capture_output=True, text=True, timeout=timeout, check=check,
        )

    def stop(self, proc: subprocess.Popen[Any], grace: float = STOP_GRACE) -> int | None:
        """SIGTERM the process's group, SIGKILL after `grace` s; returns its exit code."""
        self._stop_many([proc], grace)
        return proc.returncode

    @staticmethod
    def _stop_many(procs: list[subprocess.Popen[Any]], grace: float) -> None:
        running = [p for p in procs if p.poll() is None]
        for p in running:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
        for p in running:
            if p.poll() is None:
                _signal_group(p, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=5)
            # Children left in the group after the leader exited.
            _signal_group(p, signal.SIGKILL)

    # -- impairments

    def impair(
        self,
        port_or_host: str | None = None,
        loss: float | None = None,
        delay_ms: float | None = None,
        jitter_ms: float | None = None,
        duplicate: float | None = None,
        reorder: float | None = None,
        rate: str | None = None,
        corrupt: float | None = None,
    ) -> list[str]:
        """Impair a port (a host name, a bridge port such as "vpc", a VM name or its tap), or
        every port (None): loss/duplicate/reorder/corrupt in per cent, delay and jitter in ms,
        rate as tc writes it ("10mbit").

        With the kernel's netem the qdisc goes on both sides of a host's cable (bridge port:
        traffic to the host; the host's eth0: traffic from it); a tap gets it on the bridge
        side only (traffic to the VM). On a kernel without netem (like this CI machine's) the
        port is cut out of the bridge and a user-space relay (network.netem) takes its place,
        impairing both directions, taps included. Reordering needs a delay (the reordered share
        goes at once, the rest is delayed). Calling again replaces the settings; all values None
        removes the impairment. Returns the "ns/dev" list touched.
        """
        from pxelab.lab.network.netem import Impairment, parse_rate

        self._require_open()
        if reorder and not delay_ms:
            raise LabError("reorder needs delay_ms > 0 (netem reorders by not delaying)")
        if rate is not None:
            try:
                parse_rate(rate)
            except ValueError as exc:
                raise LabError(str(exc)) from None
        imp = Impairment(loss or 0.0, delay_ms or 0.0, jitter_ms or 0.0, duplicate or 0.0,
                         reorder or 0.0, corrupt or 0.0, rate)
        clear = imp == Impairment()
        if not self._kernel_netem():
            return [self._relay(port, None if clear else imp)
                    for port in self._impair_ports(port_or_host)]
        args: list[str] = []
        if delay_ms or jitter_ms:
            args += ["delay", f"{delay_ms or 0}ms"]
            if jitter_ms:
                args += [f"{jitter_ms}ms"]
        for name, value in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder),
                            ("corrupt", corrupt)):
            if value:
                args += [name, f"{value}%"]
        if rate:
            args += ["rate", rate]
        done = []
        for ns, dev in self._impair_targets(port_or_host):
            if not clear:
                cmd = ["tc", "qdisc", "replace", "dev", dev, "root", "netem", *args]
            else:
                cmd = ["tc", "qdisc", "del", "dev", dev, "root"]
            proc = subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True,
                                  text=True, timeout=10)
            if proc.returncode != 0 and not clear:
                raise LabError(f"tc on {ns}/{dev} failed: {proc.stderr.strip()}")
            done.append(f"{ns}/{dev}")
        return done

    def _kernel_netem(self) -> bool:
        """Does this kernel have the netem qdisc? (Probed once, on the bridge's loopback.)"""
        global _NETEM
        if _NETEM is None:
            add = subprocess.run(
                ["ip", "netns", "exec", self.bridge_ns, "tc", "qdisc", "add", "dev", "lo",
                 "root", "netem", "delay", "0ms"], capture_output=True, text=True, timeout=10)
            _NETEM = add.returncode == 0
            if _NETEM:
                subprocess.run(["ip", "netns", "exec", self.bridge_ns, "tc", "qdisc", "del",
                                "dev", "lo", "root"], capture_output=True, timeout=10)
        return _NETEM

    def _impair_ports(self, port_or_host: str | None) -> list[str]:
        return [dev for ns, dev in self._impair_targets(port_or_host) if ns == self.bridge_ns]

    def _relay(self, port: str, imp: Any) -> str:
        """Put the user-space impairment relay in `port`'s place (imp None: take it out)."""
        old = self._relays.pop(port, None)
        if old is not None:
            self.stop(old[0])
        side = _check_ifname(("i" if port.startswith("v") else "j") + port[1:])
        if imp is None:
            if old is not None:
                _ip("-n", self.bridge_ns, "link", "del", side, check=False)

                def rejoin(sw: Any) -> None:
                    idx = sw.link_lookup(ifname=port)[0]
                    br = sw.link_lookup(ifname=BRIDGE)[0]
                    sw.link("set", index=idx, master=br)

                _in_ns(self.bridge_ns, rejoin)
            return f"{self.bridge_ns}/{port}"
        if old is None:
            _ip("-n", self.bridge_ns, "tuntap", "add", "dev", side, "mode", "tap")

            def swap(sw: Any) -> None:
                br = sw.link_lookup(ifname=BRIDGE)[0]
                tap = sw.link_lookup(ifname=side)[0]
                sw.link("set", index=tap, master=br, mtu=self.mtu, ifalias=self.alias,
                        state="up")
                # Out of the bridge before the relay joins the two: never a loop.
                sw.link("set", index=sw.link_lookup(ifname=port)[0], master=0)

            _in_ns(self.bridge_ns, swap)
        proc = self.popen_in_bridge(
            [sys.executable, "-m", "pxelab.lab.network.netem", "--port", port, "--tap", side,
             *imp.args()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            err = proc.stderr.read() if proc.stderr else ""
            raise LabError(f"impairment relay on {port} did not start: {err.strip()}")
        self._relays[port] = (proc, imp)
        return f"{self.bridge_ns}/{port}"

    def _impair_targets(self, port_or_host: str | None) -> list[tuple[str, str]]:
        if port_or_host is None:
            out = [(self.bridge_ns, h.port) for h in self.hosts.values()]
            out += [(h.netns, h.ifname) for h in self.hosts.values()]
            return out + [(self.bridge_ns, t) for t in self.taps]
        if port_or_host in self.hosts:
            h = self.hosts[port_or_host]
            return [(self.bridge_ns, h.port), (h.netns, h.ifname)]
        ports = {h.port for h in self.hosts.values()} | set(self.taps)
        if port_or_host in ports:
            return [(self.bridge_ns, port_or_host)]
        tap = f"t{port_or_host}"
        if tap in self.taps:
            return [(self.bridge_ns, tap)]
        raise LabError(f"no host or port {port_or_host!r} in lab {self.lab_id}")

    def qdiscs(self, port_or_host: str | None = None) -> str:
        """What impairs each device: `tc qdisc show`, or the user-space relay's settings."""
        out = []
        for ns, dev in self._impair_targets(port_or_host):
            if dev in self._relays and ns == self.bridge_ns:
                args = " ".join(self._relays[dev][1].args())
                out.append(f"{ns}/{dev}: pxelab-netem {args}")
                continue
            proc = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "show", "dev", dev],
                                  capture_output=True, text=True, timeout=10)
            out.append(f"{ns}/{dev}: {proc.stdout.strip()}")
        return "\n".join(out)

    # -- capture

    def start_capture(self, path: str | os.PathLike[str], snaplen: int = 0,
                      timeout: float = 5.0) -> subprocess.Popen[Any]:
        """tcpdump on br0 into a pcap file until teardown; returns once tcpdump is listening."""
        self._require_open()
        path = Path(path).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        from pxelab.lab.network.userns import single_uid  # here: `-m ...userns` runs it as main

        if single_uid():
            # The lab's own user namespace (userns.py): tcpdump cannot start there (pcap.py).
            argv = [sys.executable, "-m", "pxelab.lab.network.pcap", "-i", BRIDGE,
                    "-s", str(snaplen), "-w", str(path)]  # fmt: skip
        else:
            tcpdump = _which("tcpdump")
            if tcpdump is None:
                raise LabError("tcpdump is not installed: run `pxelab doctor --install`")
            # -Z root: Debian's tcpdump would otherwise drop to user tcpdump and fail to write
            # in a root-only directory. -U and --immediate-mode: each packet reaches the file
            # at once (with the default buffering the last second was lost at SIGTERM).
            argv = [tcpdump, "-i", BRIDGE, "-n", "-U", "--immediate-mode", "-Z", "root",
                    "-s", str(snaplen), "-w", str(path)]  # fmt: skip
        proc = self._popen(self.bridge_ns, argv, self._captures, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        assert proc.stderr is not None
        os.set_blocking(proc.stderr.fileno(), False)
        buf = b""
        while time.monotonic() < deadline:
            chunk = proc.stderr.read()
            if chunk:
                buf += chunk
                if b"listening on" in buf:
                    break
            if proc.poll() is not None:
                raise LabError(f"tcpdump exited: {buf.decode(errors='replace').strip()}")
            time.sleep(0.02)
        else:
            raise LabError("tcpdump did not start listening on br0 within {timeout} s")
        # Keep draining stderr so tcpdump never blocks on a full pipe.
        threading.Thread(target=_drain, args=(proc,), daemon=True).start()
        return proc

    def stop_capture(self) -> None:
        """Stop every capture now (teardown does it too); the pcap files are complete after."""
        self._stop_many(self._captures, STOP_GRACE)

    # -- misc

    def _require_open(self) -> None:
        if not self._started:
            self.start()
        if self._closed:
            raise LabError(f"lab {self.lab_id} is closed")

    @property
    def namespaces(self) -> list[str]:
        return list(self._namespaces)


def _drain(proc: subprocess.Popen[Any]) -> None:
    stream = proc.stderr
    if stream is None:
        return
    with contextlib.suppress(Exception):
        os.set_blocking(stream.fileno(), True)
        while stream.read(4096):
            pass


def _signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


# --------------------------------------------------------------------------- cleanup


def cleanup(prefix: str = PREFIX) -> list[str]:
    """Remove what killed labs left: namespaces named `prefix*`, processes in them or marked
    with their lab id, and links in the root namespace whose alias starts with `prefix`.

    `prefix="pxelab-<id>-"` limits it to one lab. Labs alive in this process are left alone.
    Returns one line per thing removed ("netns pxelab-ab12cd-sw", "pid 1234 (dnsmasq)", ...).
    """
    if not prefix.startswith(PREFIX):
        raise LabError(f"cleanup prefix must start with {PREFIX!r}")
    with _LIVE_LOCK:
        mine = {lab.prefix for lab in _LIVE.values()}

    def ours(name: str) -> bool:
        return name.startswith(prefix) and not any(name.startswith(m) for m in mine)

    removed: list[str] = []
    namespaces = [ns for ns in _list_netns() if ours(ns)]
    pids: set[int] = set()
    for ns in namespaces:
        pids.update(_ns_pids(ns))
    for pid in _pids_marked(prefix):
        lab_env = _env_lab(pid)
        if lab_env is not None and not any(m == f"{PREFIX}{lab_env}-" for m in mine):
            pids.add(pid)
    names = {pid: _comm(pid) for pid in pids}
    for pid in _kill_pids(pids, grace=STOP_GRACE):
        removed.append(f"pid {pid} ({names.get(pid) or '?'})")
    for ns in namespaces:
        proc = _ip("netns", "delete", ns, check=False)
        if proc.returncode == 0:
            removed.append(f"netns {ns}")
        else:
            removed.append(f"netns {ns} NOT removed: {proc.stderr.strip()}")
    removed.extend(_cleanup_root_links(prefix, mine))
    return removed


def _cleanup_root_links(prefix: str, mine: set[str]) -> list[str]:
    from pyroute2 import IPRoute

    out = []
    with IPRoute() as ipr:
        for link in ipr.get_links():
            alias = link.get_attr("IFLA_IFALIAS") or ""
            name = link.get_attr("IFLA_IFNAME")
            tag = f"{alias}-"
            if not alias.startswith(PREFIX) or not tag.startswith(prefix) or tag in mine:
                continue
            with contextlib.suppress(Exception):
                ipr.link("del", index=link["index"])
                out.append(f"link {name}")
    return out


def _env_lab(pid: int) -> str | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    want = f"{ENV_MARK}=".encode()
    for var in env.split(b"\0"):
        if var.startswith(want):
            return var[len(want) :].decode(errors="replace")
    return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cleanup_command(lab_id: str | None = None) -> int:
    """`pxelab lab --cleanup [--lab-id ID]`: what it removed, one line each; 1 if something
    could not be removed or no lab can be built here."""
    problem = check_privileges()
    if problem:
        print(f"pxelab lab --cleanup: {problem}")
        return 1
    removed = cleanup(f"{PREFIX}{lab_id}-" if lab_id else PREFIX)
    for line in removed:
        print(f"removed {line}")
    if not removed:
        print("nothing to clean up")
    return 1 if any("NOT removed" in line for line in removed) else 0
