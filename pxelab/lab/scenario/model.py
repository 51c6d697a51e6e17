"""The scenario model: `scenarios/<name>/scenario.toml` read into typed, validated objects.

Everything a user can get wrong in a scenario file is caught here, before any namespace exists,
with the file, the key (as a dotted path such as `client[0].steps[2].expect_menu.entries`) and
what is wrong. The runner then never has to second-guess its input.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENARIO_FILE = "scenario.toml"

IMPLEMENTATIONS = ("pxelab", "dnsmasq")
CLIENT_KINDS = ("scripted", "vm")
# One action per step; the value's type is checked by _STEP_CHECKS below.
STEP_ACTIONS = (
    "wait_for",
    "expect_menu",
    "select",
    "key",
    "expect_cmdline",
    "expect_local_boot",
    "expect_failure",
    "expect_screen",
    "expect_refused",
)
# Keys a VM can be sent (QMP key names plus the common spellings people write).
KEYS = (
    "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12",
    "ret", "enter", "esc", "up", "down", "left", "right", "tab", "spc", "space",
    "home", "end", "pgup", "pgdn", "backspace",
)  # fmt: skip
IMPAIRMENTS = {
    "loss": "percent of packets dropped (0-100)",
    "delay_ms": "added one-way delay in milliseconds",
    "jitter_ms": "delay variation in milliseconds",
    "duplicate": "percent of packets duplicated (0-100)",
    "reorder": "percent of packets reordered (0-100, needs delay_ms)",
    "rate": "rate limit, tc syntax such as '10mbit'",
}
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,11}$")
RESERVED_HOSTS = ("rtr", "pxe", "sw")


class ScenarioError(ValueError):
    """A scenario file is wrong: names the file, the key and what is wrong."""

    def __init__(self, file: Path | str, key: str, message: str) -> None:
        self.file = str(file)
        self.key = key
        self.message = message
        where = f"{self.file}: {key}: " if key else f"{self.file}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class Network:
    subnet: ipaddress.IPv4Network = field(
        default_factory=lambda: ipaddress.IPv4Network("192.168.10.0/24")
    )
    mtu: int = 1500
    impair: dict[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class Router:
    implementation: str = "pxelab"
    address: ipaddress.IPv4Interface = field(
        default_factory=lambda: ipaddress.IPv4Interface("192.168.10.1/24")
    )
    pool: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] = (
        ipaddress.IPv4Address("192.168.10.100"),
        ipaddress.IPv4Address("192.168.10.150"),
    )
    static: dict[str, ipaddress.IPv4Address] = field(default_factory=dict)
    quirks: tuple[str, ...] = ()
    ra: bool = True
    lease_time: int = 43200
    # A router that knows PXE (OpenWrt's/pfSense's "next-server" and "filename"): siaddr and the
    # file field of its replies. None: a plain home router that says nothing about booting.
    next_server: ipaddress.IPv4Address | None = None
    boot_file: str | None = None


@dataclass(frozen=True)
class Proxy:
    implementation: str = "pxelab"
    address: ipaddress.IPv4Interface = field(
        default_factory=lambda: ipaddress.IPv4Interface("192.168.10.20/24")
    )
    dnsmasq_conf: Path | None = None
    config: Path | None = None
    tftp_root: Path | None = None
    log_dhcp: bool = True


@dataclass(frozen=True)
class Tftp:
    """How the runner builds the TFTP root (unless [proxy] tftp_root names a ready one)."""

    source: Path | None = None  # folder copied over the tree (default: the scenario's own)
    bios: bool = True  # pxelinux.0 and its BIOS modules at the root
    efi64: bool = False  # syslinux.efi and its modules under efi64/
    # Files the menu names that only need to exist (scripted clients fetch them, never run them).
    placeholders: tuple[str, ...] = ()
    # Tree path -> test guest artifact ("kernel-amd64", "kernel-686", "initrd").
    guest: dict[str, str] = field(default_factory=dict)
    # Rewrite PXELINUX configs for QEMU's serial console (None: when a client is a VM).
    vm_console: bool | None = None
    shim: bool = False  # signed shimx64.efi and grubx64.efi (Debian's) at the root


@dataclass(frozen=True)
class Step:
    action: str
    value: Any
    timeout: float | None
    key: str  # the dotted path, for messages

    def describe(self) -> str:
        if isinstance(self.value, bool):
            return self.action
        return f"{self.action} {self.value!r}"


@dataclass(frozen=True)
class Client:
    name: str
    kind: str
    profile: str
    mac: str | None = None
    uuid: str | None = None
    arch: int | None = None
    select: str | None = None
    pxe_item: int | None = None  # scripted: which PXE boot menu item (1-based) to take
    attempts: int = 1  # vm: boot again (fresh VM) when the steps fail, up to this many times
    overrides: dict[str, Any] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    timeout: float = 60.0
    key: str = ""


@dataclass(frozen=True)
class Expect:
    # Ordered subsequence of the TFTP files requested (retransmits and extra files allowed between).
    tftp_requested: tuple[str, ...] = ()
    # Exact consecutive run of requests (consecutive duplicates collapsed): "line for line".
    tftp_sequence: tuple[str, ...] = ()
    # Files that must have been sent completely (any order).
    tftp_sent: tuple[str, ...] = ()
    # Files that must never have been requested.
    tftp_not_requested: tuple[str, ...] = ()
    # Files the HTTP server sent in full (its access log), in this order; others may come between.
    http_sent: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    file: Path
    description: str = ""
    timeout: float = 120.0
    network: Network = field(default_factory=Network)
    router: Router = field(default_factory=Router)
    proxy: Proxy = field(default_factory=Proxy)
    clients: tuple[Client, ...] = ()
    expect: Expect = field(default_factory=Expect)
    tftp: Tftp = field(default_factory=Tftp)
    tags: tuple[str, ...] = ()

    @property
    def directory(self) -> Path:
        return self.file.parent

    @property
    def needs_qemu(self) -> bool:
        return any(c.kind == "vm" for c in self.clients)


class _Reader:
    """Walks one TOML table, remembering the dotted key for error messages."""

    def __init__(self, file: Path, table: dict[str, Any], key: str) -> None:
        self.file = file
        self.table = table
        self.key = key
        self.used: set[str] = set()

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def error(self, name: str, message: str) -> ScenarioError:
        return ScenarioError(self.file, self.path(name) if name else self.key, message)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.used.add(name)
        if name not in self.table:
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; a TOML `true` where a number belongs is a mistake.
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(name, f"expected {_kind_names(kinds)}, got a boolean")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kinds):
            raise self.error(name, f"expected {_kind_names(kinds)}, got {_type_name(value)}")
        return value

    def sub(self, name: str) -> _Reader:
        value = self.get(name, dict, {})
        return _Reader(self.file, value, self.path(name))

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.get(name, list, [])
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{name}[{i}]", f"expected a string, got {_type_name(item)}")
        return tuple(value)

    def done(self, allowed_hint: str = "") -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise self.error(unknown[0], f"unknown key (known here: {known}){allowed_hint}")


def _type_name(value: Any) -> str:
    return {
        str: "a string", int: "an integer", float: "a number", bool: "a boolean",
        list: "a list", dict: "a table",
    }.get(type(value), type(value).__name__)  # fmt: skip


def _kind_names(kinds: tuple[type, ...]) -> str:
    return " or ".join(_type_name(k()) if k is not type(None) else "nothing" for k in kinds)


def load(path: str | Path) -> Scenario:
    """Read and validate one scenario: a scenario.toml or the folder holding it."""
    p = Path(path)
    if p.is_dir():
        p = p / SCENARIO_FILE
    if not p.is_file():
        raise ScenarioError(p, "", "no such scenario file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(p, "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(p, "", f"not UTF-8 text: {exc}") from None
    return parse(data, p.resolve())


def parse(data: dict[str, Any], file: Path) -> Scenario:
    top = _Reader(file, data, "")
    name = top.get("name", str, file.parent.name)
    description = top.get("description", str, "")
    timeout = top.get("timeout", float, 120.0)
    if timeout <= 0:
        raise top.error("timeout", "must be more than 0 seconds")
    tags = top.strings("tags")
    network = _network(top.sub("network"))
    router = _router(top.sub("router"), network)
    proxy = _proxy(top.sub("proxy"), network, file.parent)
    clients_raw = top.get("client", list, [])
    if not clients_raw:
        raise top.error("client", "a scenario needs at least one [[client]]")
    clients = []
    for i, raw in enumerate(clients_raw):
        if not isinstance(raw, dict):
            raise top.error(f"client[{i}]", f"expected a table, got {_type_name(raw)}")
        clients.append(_client(_Reader(file, raw, f"client[{i}]"), i))
    names = [c.name for c in clients]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise top.error(f"client[{i}].name", f"duplicate client name {n!r}")
    expect = _expect(top.sub("expect"))
    tftp = _tftp(top.sub("tftp"), file.parent)
    top.done()
    if router.address.ip == proxy.address.ip:
        raise top.error("proxy.address", f"the router already uses {proxy.address.ip}")
    return Scenario(
        name=name, file=file, description=description, timeout=timeout, network=network,
        router=router, proxy=proxy, clients=tuple(clients), expect=expect, tftp=tftp, tags=tags,
    )  # fmt: skip


def _network(r: _Reader) -> Network:
    subnet_text = r.get("subnet", str, "192.168.10.0/24")
    try:
        subnet = ipaddress.IPv4Network(subnet_text)
    except ValueError as exc:
        raise r.error("subnet", f"not an IPv4 network: {exc}") from None
    if subnet.prefixlen > 29:
        raise r.error("subnet", "too small: a lab needs room for a router, a proxy and clients")
    mtu = r.get("mtu", int, 1500)
    if not 576 <= mtu <= 9000:
        raise r.error("mtu", f"{mtu} is outside 576-9000")
    impair_r = r.sub("impair")
    impair: dict[str, float | str] = {}
    for key in IMPAIRMENTS:
        if key == "rate":
            value = impair_r.get(key, str)
            if value is not None:
                if not re.fullmatch(r"\d+(\.\d+)?[kmg]?(bit|bps)", value):
                    raise impair_r.error(key, f"{value!r} is not a tc rate such as '10mbit'")
                impair[key] = value
            continue
        value = impair_r.get(key, float)
        if value is None:
            continue
        if value < 0 or (key in ("loss", "duplicate", "reorder") and value > 100):
            raise impair_r.error(key, f"{value} is out of range: {IMPAIRMENTS[key]}")
        if value:
            impair[key] = value
    if "reorder" in impair and "delay_ms" not in impair:
        raise impair_r.error("reorder", "netem reorders only delayed packets: set delay_ms too")
    impair_r.done()
    r.done()
    return Network(subnet=subnet, mtu=mtu, impair=impair)


def _address(r: _Reader, name: str, default: str, network: Network) -> ipaddress.IPv4Interface:
    text = r.get(name, str, default)
    try:
        ip = ipaddress.IPv4Address(text.split("/")[0])
    except ValueError:
        raise r.error(name, f"{text!r} is not an IPv4 address") from None
    if ip not in network.subnet:
        raise r.error(name, f"{ip} is not inside network.subnet {network.subnet}")
    if ip in (network.subnet.network_address, network.subnet.broadcast_address):
        raise r.error(name, f"{ip} is the subnet's network or broadcast address")
    return ipaddress.IPv4Interface(f"{ip}/{network.subnet.prefixlen}")


def _implementation(r: _Reader) -> str:
    impl = r.get("implementation", str, "pxelab")
    if impl not in IMPLEMENTATIONS:
        raise r.error("implementation", f"{impl!r} is not one of {', '.join(IMPLEMENTATIONS)}")
    return impl


def _router(r: _Reader, network: Network) -> Router:
    impl = _implementation(r)
    default_addr = str(network.subnet.network_address + 1)
    address = _address(r, "address", default_addr, network)
    hosts = list(network.subnet.hosts())
    default_pool = f"{hosts[len(hosts) // 2]}-{hosts[min(len(hosts) - 1, len(hosts) // 2 + 50)]}"
    pool_text = r.get("pool", str, default_pool)
    parts = pool_text.split("-")
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = (ipaddress.IPv4Address(p.strip()) for p in parts)
    except ValueError:
        msg = f"{pool_text!r} is not FIRST-LAST such as 10.0.0.100-10.0.0.150"
        raise r.error("pool", msg) from None
    if start not in network.subnet or end not in network.subnet or end < start:
        raise r.error("pool", f"{pool_text} is not an ascending range inside {network.subnet}")
    static_r = r.sub("static")
    static: dict[str, ipaddress.IPv4Address] = {}
    for mac_text in list(static_r.table):
        ip_text = static_r.get(mac_text, str)
        mac = mac_text.lower().replace("-", ":")
        if not _MAC.match(mac):
            raise static_r.error(mac_text, "not a MAC address like 00:80:64:71:ab:0a")
        try:
            ip = ipaddress.IPv4Address(ip_text)
        except ValueError:
            raise static_r.error(mac_text, f"{ip_text!r} is not an IPv4 address") from None
        if ip not in network.subnet:
            raise static_r.error(mac_text, f"{ip} is not inside network.subnet {network.subnet}")
        static[mac] = ip
    quirks = r.strings("quirks")
    known = _router_quirks()
    for i, q in enumerate(quirks):
        if known is not None and q not in known:
            raise r.error(f"quirks[{i}]", f"unknown router quirk {q!r} (known: {', '.join(known)})")
        if impl == "dnsmasq":
            raise r.error(f"quirks[{i}]", "quirks need implementation = \"pxelab\"")
    ra = r.get("ra", bool, True)
    lease_time = r.get("lease_time", int, 43200)
    if lease_time < 60:
        raise r.error("lease_time", "must be at least 60 seconds")
    next_server, boot_file = _router_boot(r)
    r.done()
    return Router(impl, address, (start, end), static, quirks, ra, lease_time,
                  next_server, boot_file)


def _router_boot(r: _Reader) -> tuple[ipaddress.IPv4Address | None, str | None]:
    """`next_server` and `boot_file`; errors name the scenario file's line."""

    def error(name: str, message: str) -> ScenarioError:
        line = _key_line(r.file, r.key, name)
        return ScenarioError(f"{r.file}:{line}" if line else r.file, r.path(name), message)

    text = r.get("next_server", str)
    next_server = None
    if text is not None:
        try:
            next_server = ipaddress.IPv4Address(text)
        except ValueError:
            raise error("next_server", f"{text!r} is not an IPv4 address "
                        "(the TFTP server's, e.g. the proxy's 192.168.10.20)") from None
        if next_server.is_unspecified or next_server.is_multicast or text == "255.255.255.255":
            raise error("next_server", f"{text} is not a host address")
    boot_file = r.get("boot_file", str)
    if boot_file is not None:
        from pxelab.serve.router import boot_file_problem

        problem = boot_file_problem(boot_file)
        if problem is None and ("," in boot_file or boot_file != boot_file.strip()):
            problem = "no commas or outer spaces (dnsmasq's dhcp-boot could not carry it)"
        if problem:
            raise error("boot_file", f"{boot_file!r}: {problem}")
    return next_server, boot_file


def _key_line(file: Path, table: str, name: str) -> int | None:
    """The line of `name = ...` inside `[table]` of the scenario file (None: not found there)."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    inside = False
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.split("#", 1)[0].strip() == f"[{table}]"
        elif inside and re.match(rf"{re.escape(name)}\s*=", stripped):
            return number
    return None


def _router_quirks() -> tuple[str, ...] | None:
    """The router's quirk names when its module says them; None when it cannot tell."""
    try:
        from pxelab.serve import router as router_mod
    except Exception:
        return None
    for attr in ("QUIRKS", "QUIRK_NAMES"):
        value = getattr(router_mod, attr, None)
        if isinstance(value, dict | tuple | list | frozenset | set):
            return tuple(sorted(value))
    return None


def _proxy(r: _Reader, network: Network, base: Path) -> Proxy:
    impl = _implementation(r)
    address = _address(r, "address", str(network.subnet.network_address + 20), network)

    def file_key(name: str) -> Path | None:
        text = r.get(name, str)
        if text is None:
            return None
        p = (base / text).resolve()
        if not p.is_file():
            raise r.error(name, f"{text!r}: no such file beside the scenario ({p})")
        return p

    dnsmasq_conf = file_key("dnsmasq_conf")
    config = file_key("config")
    root_text = r.get("tftp_root", str)
    tftp_root = None
    if root_text is not None:
        tftp_root = (base / root_text).resolve()
        if not tftp_root.is_dir():
            raise r.error("tftp_root", f"{root_text!r}: no such folder beside the scenario")
    if impl == "dnsmasq" and dnsmasq_conf is None:
        raise r.error("dnsmasq_conf", "implementation = \"dnsmasq\" needs a dnsmasq_conf")
    if impl == "dnsmasq" and config is not None:
        raise r.error("config", "a TOML config is for implementation = \"pxelab\"")
    if dnsmasq_conf is None and config is None:
        raise r.error("", "the proxy needs dnsmasq_conf or config")
    log_dhcp = r.get("log_dhcp", bool, True)
    r.done()
    return Proxy(impl, address, dnsmasq_conf, config, tftp_root, log_dhcp)


def _client(r: _Reader, index: int) -> Client:
    kind = r.get("kind", str, "scripted")
    if kind not in CLIENT_KINDS:
        raise r.error("kind", f"{kind!r} is not one of {', '.join(CLIENT_KINDS)}")
    name = r.get("name", str, f"c{index}")
    if not _NAME.match(name):
        raise r.error("name", f"{name!r}: use 1-12 lower-case letters, digits and '-'")
    if name in RESERVED_HOSTS:
        raise r.error("name", f"{name!r} is taken by the lab (rtr, pxe, sw)")
    default_profile = "ipxe" if kind == "scripted" else "pc-bios"
    profile = r.get("profile", str, default_profile)
    known = client_profiles() if kind == "scripted" else _vm_profiles()
    if known is not None and profile not in known:
        raise r.error("profile", f"unknown {kind} profile {profile!r} (known: {', '.join(known)})")
    mac = r.get("mac", str)
    if mac is not None:
        mac = mac.lower().replace("-", ":")
        if not _MAC.match(mac):
            raise r.error("mac", f"{mac!r} is not a MAC address like 00:80:64:71:ab:0a")
    uuid = r.get("uuid", str)
    if uuid is not None:
        uuid = uuid.lower()
        if not _UUID.match(uuid):
            raise r.error("uuid", f"{uuid!r} is not a UUID (8-4-4-4-12 hex digits)")
    arch = r.get("arch", int)
    if arch is not None and not 0 <= arch <= 0xFFFF:
        raise r.error("arch", f"{arch} is not a 16-bit architecture number (RFC 4578)")
    select = r.get("select", str)
    pxe_item = r.get("pxe_item", int)
    if pxe_item is not None and (pxe_item < 1 or kind != "scripted"):
        raise r.error("pxe_item", "a PXE menu item number from 1, for scripted clients "
                      "(a VM picks it with key steps)")
    attempts = r.get("attempts", int, 1)
    if not 1 <= attempts <= 5 or (attempts > 1 and kind != "vm"):
        raise r.error("attempts", "1-5 boots, for VM clients (a lossy network may need a reboot)")
    overrides = dict(r.get("overrides", dict, {}))
    if kind == "scripted" and overrides:
        raise r.error("overrides", "overrides are for VM clients (kind = \"vm\")")
    if kind == "vm" and arch is not None:
        raise r.error("arch", "a VM's architecture comes from its firmware: drop arch")
    timeout = r.get("timeout", float, 60.0)
    if timeout <= 0:
        raise r.error("timeout", "must be more than 0 seconds")
    steps_raw = r.get("steps", list, [])
    steps = tuple(
        _step(r, f"steps[{i}]", raw, kind) for i, raw in enumerate(steps_raw)
    )
    if kind == "scripted":
        selects = [s for s in steps if s.action == "select"]
        if len(selects) > 1:
            raise r.error(selects[1].key.split(".", 1)[1], "a scripted client selects one entry")
        if selects and select is not None:
            raise r.error("select", "give the entry either here or in a select step, not both")
    r.done()
    return Client(
        name=name, kind=kind, profile=profile, mac=mac, uuid=uuid, arch=arch, select=select,
        pxe_item=pxe_item, attempts=attempts,
        overrides=overrides, steps=steps, timeout=timeout, key=r.key,
    )  # fmt: skip


def client_profiles() -> tuple[str, ...] | None:
    """The scripted client's profile names, as the client ships them."""
    from pxelab.client.profile import available

    return tuple(available()) or None


def _vm_profiles() -> tuple[str, ...] | None:
    from pxelab.lab.machines.profile import PROFILE_DIR

    names = tuple(sorted(p.stem for p in PROFILE_DIR.glob("*.toml")))
    return names or None


def _step(parent: _Reader, name: str, raw: Any, kind: str) -> Step:
    key = parent.path(name)
    if not isinstance(raw, dict):
        raise parent.error(name, f"expected a table, got {_type_name(raw)}")
    r = _Reader(parent.file, raw, key)
    actions = [a for a in STEP_ACTIONS if a in raw]
    if len(actions) != 1:
        what = "none" if not actions else ", ".join(actions)
        raise r.error("", f"a step has exactly one of {', '.join(STEP_ACTIONS)} (found {what})")
    action = actions[0]
    timeout = r.get("timeout", float)
    if timeout is not None and timeout <= 0:
        raise r.error("timeout", "must be more than 0 seconds")
    value = _STEP_CHECKS[action](r, action, kind)
    r.done()
    return Step(action=action, value=value, timeout=timeout, key=key)


def _text(r: _Reader, action: str, kind: str) -> str:
    value = r.get(action, str)
    if not value.strip():
        raise r.error(action, "must not be empty")
    return value


def _flag(r: _Reader, action: str, kind: str) -> bool:
    value = r.get(action, bool)
    if value is not True:
        raise r.error(action, "write `= true` (there is nothing to expect the opposite of)")
    return True


def _key_step(r: _Reader, action: str, kind: str) -> str:
    value = r.get(action, str).lower()
    if value not in KEYS:
        raise r.error(action, f"unknown key {value!r} (known: {', '.join(KEYS)})")
    if kind != "vm":
        raise r.error(action, "key presses need a VM client (kind = \"vm\")")
    return value


def _vm_text(r: _Reader, action: str, kind: str) -> str:
    value = _text(r, action, kind)
    if kind != "vm":
        raise r.error(action, "a firmware's refusal needs a VM client (kind = \"vm\")")
    return value


def _menu(r: _Reader, action: str, kind: str) -> dict[str, Any]:
    m = r.sub(action)
    out: dict[str, Any] = {}
    title = m.get("title", str)
    if title is not None:
        out["title"] = title
    if "entries" in m.table:
        out["entries"] = list(m.strings("entries"))
    default = m.get("default", str)
    if default is not None:
        out["default"] = default
    m.done()
    return out  # `expect_menu = {}`: a menu with entries, whatever it holds


_STEP_CHECKS = {
    "wait_for": _text,
    "expect_menu": _menu,
    "select": _text,
    "key": _key_step,
    "expect_cmdline": _text,
    "expect_local_boot": _flag,
    "expect_failure": _text,
    "expect_screen": _text,
    "expect_refused": _vm_text,
}


def _expect(r: _Reader) -> Expect:
    out = Expect(
        tftp_requested=r.strings("tftp_requested"),
        tftp_sequence=r.strings("tftp_sequence"),
        tftp_sent=r.strings("tftp_sent"),
        tftp_not_requested=r.strings("tftp_not_requested"),
        http_sent=r.strings("http_sent"),
    )
    r.done()
    return out


GUEST_ARTIFACTS = ("kernel-amd64", "kernel-686", "initrd")


def _tftp(r: _Reader, base: Path) -> Tftp:
    source_text = r.get("source", str)
    source = None
    if source_text is not None:
        source = (base / source_text).resolve()
        if not source.is_dir():
            raise r.error("source", f"{source_text!r}: no such folder ({source})")
    bios = r.get("bios", bool, True)
    efi64 = r.get("efi64", bool, False)
    shim = r.get("shim", bool, False)
    placeholders = r.strings("placeholders")
    for i, name in enumerate(placeholders):
        if name.startswith("/") or ".." in name.split("/"):
            raise r.error(f"placeholders[{i}]", f"{name!r} must be a relative path in the tree")
    g = r.sub("guest")
    guest: dict[str, str] = {}
    for relpath in list(g.table):
        artifact = g.get(relpath, str)
        if artifact not in GUEST_ARTIFACTS:
            raise g.error(relpath, f"{artifact!r} is not one of {', '.join(GUEST_ARTIFACTS)}")
        guest[relpath] = artifact
    g.done()
    vm_console = r.get("vm_console", bool)
    r.done()
    return Tftp(source, bios, efi64, placeholders, guest, vm_console, shim)


def discover(paths: list[str | Path]) -> list[Path]:
    """Scenario files under the given paths (a scenario.toml, its folder, or a folder of them)."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found.append(p)
        elif (p / SCENARIO_FILE).is_file():
            found.append(p / SCENARIO_FILE)
        elif p.is_dir():
            found.extend(sorted(p.glob(f"*/{SCENARIO_FILE}")))
        else:
            raise ScenarioError(p, "", "no such file or folder")
    seen: set[Path] = set()
    out = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
