"""A pxelab TOML configuration (`pxelab serve --config FILE.toml`): the same model as a
dnsmasq.conf, for people who start fresh. Example (the seed's setup):

    log_dhcp = true
    vendor_classes = ["PXEClient"]          # optional; the default
    interfaces = ["eth0"]                   # optional
    listen_addresses = ["192.168.10.20"]    # optional
    no_override = true

    [tftp]
    enabled = true
    root = "/srv/tftp"
    # no_blocksize, mtu, max_transfers, single_port, port
    # upload_dir = "/srv/tftp-uploads"      # accept write requests into this directory

    [http]                                  # boot files over HTTP; off without a port
    port = 8080
    # root = "/srv/http"                    # default: the TFTP root
    # listen = "192.168.10.20"              # default: the TFTP address
    # header_timeout = 20                   # seconds to send a whole request head

    # UEFI HTTP Boot: the URL a client with option 60 "HTTPClient" gets in the proxy offer;
    # {server} is the address the request came in on (pxelab's own HTTP server). Either one
    # URL for every architecture (a top-level key, before the first table):
    #   http_boot = "http://{server}:8080/efi64/snponly.efi"
    # or one per architecture (ia32, x64, ebc, arm32, arm64, riscv32, riscv64, loongarch64, or
    # the option-93 number as a quoted key):
    [http_boot]
    x64 = "http://{server}:8080/efi64/snponly.efi"

    [[range]]
    address = "192.168.10.20"               # netmask = "255.255.255.0", tags, set_tag

    [[boot]]
    file = "pxelinux.0"                     # server_name, server_address, tags = ["ipxe"]

    [[prompt]]
    text = "Press F8 for boot menu"
    timeout = 3

    [[service]]
    csa = "x86PC"                           # name or number
    text = "Boot from network"
    basename = "pxelinux"                   # or type = 0 for local boot; server = "a.b.c.d"

    [[option]]                              # a 43 sub-option for a vendor class
    vendor = "PXEClient"
    number = 6
    value = 2                               # int (1 byte; size = 2|4), "text", or hex = "2b"

    [[match]]                               # tags: option = 175 / value; or userclass = "iPXE"
    tag = "ipxe"                            # or vendorclass = "...", mac = "00:80:64:*:*:*"
    option = 175

    [[ignore]]                              # dnsmasq's dhcp-ignore
    tags = ["!wyse"]

    [[delay]]
    seconds = 2                             # tags

    [[tag_if]]                              # dnsmasq's tag-if
    set = ["efi-noipxe"]
    tags = ["efi*", "!ipxe"]

Unknown keys are errors naming file, line and key; line numbers point at the table header.
On the wire, option 43 carries the computed sub-options, then the prompt, then the [[option]]
sub-options last first: the order dnsmasq gives a file with the options before the prompt.
"""

from __future__ import annotations

import re
import tomllib
from ipaddress import AddressValueError, IPv4Address
from pathlib import Path
from typing import Any

from pxelab.config.model import (
    CSA_NAMES,
    HTTP_ARCH_NAMES,
    BootEntry,
    ConfigError,
    DhcpOption,
    HttpBootEntry,
    IgnoreRule,
    ProxyRange,
    PxePrompt,
    PxeService,
    ReplyDelay,
    ServerConfig,
    Source,
    TagIf,
    TagRule,
    mac_pattern,
)

_TOP = {"log_dhcp", "vendor_classes", "interfaces", "listen_addresses", "bind_interfaces",
        "no_override", "tftp", "http", "range", "boot", "prompt", "service", "option", "match",
        "delay", "tag_if", "ignore", "secure_boot", "http_boot"}
_TABLE_KEYS = {
    "tftp": {"enabled", "root", "no_blocksize", "mtu", "max_transfers", "single_port", "port",
             "upload_dir"},
    "http": {"port", "root", "listen", "header_timeout"},
    "range": {"address", "netmask", "tags", "set_tag"},
    "boot": {"file", "server_name", "server_address", "tags"},
    "prompt": {"text", "timeout", "tags"},
    "service": {"csa", "text", "basename", "type", "server", "tags"},
    "option": {"number", "value", "hex", "size", "vendor", "tags", "force"},
    "match": {"tag", "option", "value", "hex", "userclass", "vendorclass", "mac"},
    "delay": {"seconds", "tags"},
    "tag_if": {"set", "tags"},
    "ignore": {"tags"},
}


class _Lines:
    """Where things are in the file: tomllib gives no positions, so find the headers/keys."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = str(path)
        self.lines = text.splitlines()

    def key(self, key: str) -> Source:
        pat = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i, line in enumerate(self.lines, 1):
            if pat.match(line):
                return Source(self.path, i)
        return Source(self.path, 0)

    def table(self, name: str, index: int) -> Source:
        pat = re.compile(rf"^\s*\[\[?\s*{re.escape(name)}\s*\]\]?")
        n = -1
        for i, line in enumerate(self.lines, 1):
            if pat.match(line):
                n += 1
                if n == index:
                    return Source(self.path, i)
        return Source(self.path, 0)


def _addr(value: Any, src: Source, what: str) -> IPv4Address:
    try:
        return IPv4Address(str(value))
    except (AddressValueError, ValueError):
        raise ConfigError(src, f"{what}: {value!r} is not an IPv4 address") from None


def _typed(value: Any, kind: type | tuple[type, ...], src: Source, what: str) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(src, f"{what}: {value!r} has the wrong type")
    if not isinstance(value, kind):
        raise ConfigError(src, f"{what}: {value!r} has the wrong type")
    return value


def _tags(t: dict[str, Any], src: Source) -> tuple[str, ...]:
    tags = t.get("tags", [])
    if isinstance(tags, str):
        tags = [tags]
    return tuple(_typed(x, str, src, "tags") for x in _typed(tags, list, src, "tags"))


def _value(t: dict[str, Any], src: Source) -> tuple[bytes, bool]:
    if "hex" in t:
        text = _typed(t["hex"], str, src, "hex").replace(":", "").replace(" ", "")
        try:
            return bytes.fromhex(text), False
        except ValueError:
            raise ConfigError(src, f"hex: {t['hex']!r} is not hex bytes") from None
    v = t.get("value", b"")
    if isinstance(v, bool):
        raise ConfigError(src, "value: a boolean is not an option value")
    if isinstance(v, int):
        size = t.get("size") or (4 if v > 0xFFFF else 2 if v > 0xFF else 1)
        try:
            return v.to_bytes(size, "big"), False
        except OverflowError:
            raise ConfigError(src, f"value: {v} does not fit in {size} bytes") from None
    if isinstance(v, str):
        return v.encode(), True
    return b"", False


def read_toml(path: str | Path) -> ServerConfig:
    path = Path(path)
    where = Source(str(path), 0)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(where, f"cannot read {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(where, f"cannot read {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(Source(str(path), int(m.group(1)) if m else 0),
                          f"TOML syntax: {exc}") from None
    lines = _Lines(path, text)
    cfg = ServerConfig()
    cfg.files.append(path)
    for key in data:
        if key not in _TOP:
            raise ConfigError(lines.key(key), f"unknown setting {key!r}")

    def tables(name: str) -> list[tuple[dict[str, Any], Source]]:
        raw = data.get(name, [])
        if isinstance(raw, dict):
            raw = [raw]
        out = []
        for i, t in enumerate(raw):
            src = lines.table(name, i)
            if not isinstance(t, dict):
                raise ConfigError(src, f"[[{name}]] must be a table")
            for k in t:
                if k not in _TABLE_KEYS[name]:
                    raise ConfigError(src, f"[{name}]: unknown key {k!r}")
            out.append((t, src))
        return out

    for flag in ("log_dhcp", "no_override", "bind_interfaces", "secure_boot"):
        if flag in data:
            setattr(cfg, flag, _typed(data[flag], bool, lines.key(flag), flag))
            cfg.sources[flag] = lines.key(flag)
    if "vendor_classes" in data:
        src = lines.key("vendor_classes")
        cfg.vendor_classes = [_typed(v, str, src, "vendor_classes")
                              for v in _typed(data["vendor_classes"], list, src, "vendor_classes")]
        cfg.sources["vendor_classes"] = src
    if "interfaces" in data:
        src = lines.key("interfaces")
        cfg.interfaces = [_typed(v, str, src, "interfaces") for v in data["interfaces"]]
        cfg.sources["interfaces"] = src
    if "listen_addresses" in data:
        src = lines.key("listen_addresses")
        cfg.listen_addresses = [_addr(v, src, "listen_addresses")
                                for v in data["listen_addresses"]]
        cfg.sources["listen_addresses"] = src
    for t, src in tables("tftp"):
        tf = cfg.tftp
        tf.enabled = bool(_typed(t.get("enabled", True), bool, src, "tftp.enabled"))
        if "root" in t:
            tf.root = Path(_typed(t["root"], str, src, "tftp.root"))
            cfg.sources["tftp.root"] = src
        tf.no_blocksize = _typed(t.get("no_blocksize", False), bool, src, "no_blocksize")
        tf.single_port = _typed(t.get("single_port", False), bool, src, "single_port")
        for k in ("mtu", "max_transfers"):
            if k in t:
                setattr(tf, k, _typed(t[k], int, src, k))
        tf.port = _typed(t.get("port", 69), int, src, "port")
        if "upload_dir" in t:
            # checked here, so a start and a reload (SIGHUP) both name the line
            at = lines.key("upload_dir")
            at = at if at.line else src
            up = Path(_typed(t["upload_dir"], str, at, "tftp.upload_dir"))
            if not up.is_dir():
                what = "is not a directory" if up.exists() else "does not exist"
                raise ConfigError(at, f"tftp.upload_dir: upload directory {up} {what}")
            tf.upload_dir = up
            cfg.sources["tftp.upload_dir"] = at
        cfg.sources["tftp.enabled"] = src
    for t, src in tables("http"):
        h = cfg.http
        if "port" in t:
            port = _typed(t["port"], int, src, "http.port")
            if not 0 <= port <= 65535:
                raise ConfigError(src, f"http.port: {port} is not a port (0..65535)")
            h.port = port
            cfg.sources["http.port"] = src
        if "root" in t:
            h.root = Path(_typed(t["root"], str, src, "http.root"))
            if not h.root.is_dir():
                raise ConfigError(src, f"http.root: {h.root} is not a directory")
            cfg.sources["http.root"] = src
        if "listen" in t:
            h.listen = str(_addr(t["listen"], src, "http.listen"))
            cfg.sources["http.listen"] = src
        if "header_timeout" in t:
            at = lines.key("header_timeout")
            at = at if at.line else src
            secs = _typed(t["header_timeout"], (int, float), at, "http.header_timeout")
            if not 0 < secs <= 3600:
                raise ConfigError(at, f"http.header_timeout: {secs} is not a number of "
                                  "seconds (more than 0, at most 3600)")
            h.header_timeout = float(secs)
            cfg.sources["http.header_timeout"] = at
    if "http_boot" in data:
        cfg.http_boot = _http_boot(data["http_boot"], lines)
    for t, src in tables("range"):
        if "address" not in t:
            raise ConfigError(src, "[[range]] needs address")
        cfg.ranges.append(ProxyRange(
            address=_addr(t["address"], src, "address"),
            netmask=_addr(t["netmask"], src, "netmask") if "netmask" in t else None,
            tags=_tags(t, src), set_tag=t.get("set_tag"), source=src))
    for t, src in tables("boot"):
        if not t.get("file"):
            raise ConfigError(src, "[[boot]] needs file")
        cfg.boot.append(BootEntry(
            file=_typed(t["file"], str, src, "file"), server_name=t.get("server_name"),
            server_address=(_addr(t["server_address"], src, "server_address")
                            if "server_address" in t else None),
            tags=_tags(t, src), source=src))
    next_type = 0x8000
    for t, src in tables("service"):
        csa = t.get("csa", 0)
        if isinstance(csa, str):
            names = [n.lower() for n in CSA_NAMES]
            if csa.lower() not in names:
                raise ConfigError(src, f"unknown client architecture {csa!r}")
            csa = names.index(csa.lower())
        basename = t.get("basename")
        if basename:
            kind = next_type
            next_type += 1
        else:
            kind = _typed(t.get("type", 0), int, src, "type")
        server = t.get("server")
        address = name = None
        if server:
            try:
                address = IPv4Address(server)
            except (AddressValueError, ValueError):
                name = server
        cfg.services.append(PxeService(
            csa=_typed(csa, int, src, "csa"), text=_typed(t.get("text", ""), str, src, "text"),
            type=kind, basename=basename, server_address=address, server_name=name,
            tags=_tags(t, src), source=src))
    for t, src in tables("option"):
        if "number" not in t:
            raise ConfigError(src, "[[option]] needs number")
        value, is_string = _value(t, src)
        vendor = t.get("vendor")
        cfg.options.append(DhcpOption(
            number=_typed(t["number"], int, src, "number"), value=value, vendor=vendor,
            force=bool(t.get("force", False)), is_string=is_string, tags=_tags(t, src),
            source=src))
        if vendor is None:
            cfg.warn(src, "option", "not sent: a proxy reply carries only option-43 "
                     "(vendor) sub-options")
    for t, src in tables("prompt"):
        timeout = _typed(t.get("timeout", 255), int, src, "timeout")
        if not 0 <= timeout <= 255:
            raise ConfigError(src, f"timeout {timeout} is out of range 0..255")
        cfg.add_prompt(PxePrompt(text=_typed(t.get("text", ""), str, src, "text"),
                                 timeout=timeout, tags=_tags(t, src), source=src))
    for t, src in tables("match"):
        if "tag" not in t:
            raise ConfigError(src, "[[match]] needs tag")
        if "mac" in t:
            try:
                mac, mask = mac_pattern(str(t["mac"]))
            except ValueError:
                raise ConfigError(src, f"mac: bad hardware address {t['mac']!r}") from None
            cfg.tag_rules.append(TagRule(kind="mac", tag=t["tag"], option=0, value=mac,
                                         mask=mask, is_hex=True, source=src))
            continue
        if "userclass" in t or "vendorclass" in t:
            kind = "userclass" if "userclass" in t else "vendorclass"
            cfg.tag_rules.append(TagRule(kind=kind, tag=t["tag"], value=str(t[kind]).encode(),
                                         is_string=True, source=src))
            continue
        if "option" not in t:
            raise ConfigError(src, "[[match]] needs option, userclass or vendorclass")
        value, is_string = _value({**t, "size": 2 if t["option"] == 93 else None}, src)
        cfg.tag_rules.append(TagRule(kind="match", tag=t["tag"], option=t["option"],
                                     value=value or None, is_hex="hex" in t,
                                     is_string=is_string, source=src))
    for t, src in tables("delay"):
        cfg.reply_delays.append(ReplyDelay(seconds=_typed(t.get("seconds", 0), int, src,
                                                          "seconds"),
                                           tags=_tags(t, src), source=src))
    for t, src in tables("ignore"):
        tags = _tags(t, src)
        if not tags:
            raise ConfigError(src, "[[ignore]] needs tags")
        cfg.ignores.append(IgnoreRule(tags=tags, source=src))
    for t, src in tables("tag_if"):
        sets = t.get("set", [])
        sets = [sets] if isinstance(sets, str) else sets
        if not sets:
            raise ConfigError(src, "[[tag_if]] needs set")
        cfg.tag_ifs.append(TagIf(sets=tuple(_typed(x, str, src, "set") for x in sets),
                                 conditions=_tags(t, src), source=src))
    return cfg


def _http_url(value: Any, src: Source, what: str) -> str:
    url = _typed(value, str, src, what)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(src, f"{what}: {url!r} is not an http:// or https:// URL (UEFI HTTP "
                          "Boot takes the boot file as a URL)")
    return url


def _http_boot(value: Any, lines: _Lines) -> list[HttpBootEntry]:
    """`http_boot = URL` (every architecture) or `[http_boot]` ARCH = URL per architecture."""
    if not isinstance(value, dict):
        src = lines.key("http_boot")
        return [HttpBootEntry(_http_url(value, src, "http_boot"), None, source=src)]
    out = []
    head = lines.table("http_boot", 0)
    for name, url in value.items():
        src = lines.key(name) if lines.key(name).line > head.line else head
        arch = HTTP_ARCH_NAMES.get(name.lower())
        if arch is None and name.isdigit() and int(name) <= 0xFFFF:
            arch = int(name)
        if arch is None:
            raise ConfigError(src, f"[http_boot]: unknown architecture {name!r} (names: "
                              f"{', '.join(HTTP_ARCH_NAMES)}, or an option-93 number)")
        out.append(HttpBootEntry(_http_url(url, src, f"http_boot.{name}"), arch, source=src))
    return out
