"""Walk the whole PXE boot chain on one interface, link by link, and record what each link did.

    result = walk(WalkOptions(interface="eth0", profile=load("pxe-2.0-rom")))
    result.ok, result.failure, result.to_json()

Links in order: DHCP offers -> address (REQUEST/ACK) -> boot data (proxy offer, boot-server
discovery on 4011, BINL or iPXE ProxyDHCPREQUEST) -> NBP over TFTP -> PXELINUX (core module,
config search, menu, selected label), or shim and GRUB (pxelab.client.grub: GRUB's server
comes from the DHCPACK only, so behind a proxy the walk ends at `grub>`). The first link
that breaks ends the walk and is named in `failure` ({"link": ..., "message": ...}).

The client needs its leased address on the interface for port 4011 and TFTP (kernel sockets):
if the interface has no IPv4 address, the walk adds the leased one for its own duration and
removes it afterwards; an interface that already has an address is left as it is.
"""

from __future__ import annotations

import contextlib
import ipaddress
import posixpath
import socket
import time
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pxelab.client import packet, tftp
from pxelab.client.dhcp import DhcpClient, DhcpFailure, Link, Offer
from pxelab.client.grub import Chain, GrubFailure, is_grub, is_shim
from pxelab.client.profile import Profile
from pxelab.client.pxelinux import Pxelinux, PxelinuxFailure

PXELINUX_NBPS = {"pxelinux.0", "lpxelinux.0", "gpxelinux.0", "syslinux.efi", "syslinux64.efi",
                 "syslinux32.efi"}
# Options shown per offer in the report (the rest are kept by number).
_IP_OPTIONS = {1, 3, 6, 28, 54}


@dataclass
class WalkOptions:
    interface: str
    profile: Profile
    mac: str | None = None
    arch: int | None = None
    uuid: str | None = None
    select: str | None = None
    timeout: float = 60.0
    offer_wait: float | None = None
    until_complete: bool | None = None
    pxe_item: int = 1


@dataclass
class WalkResult:
    ok: bool = False
    failure: dict[str, str] | None = None
    profile: str = ""
    interface: str = ""
    mac: str = ""
    arch: int = 0
    uuid: str | None = None
    offers: list[dict[str, Any]] = field(default_factory=list)
    address: str | None = None
    netmask: str | None = None
    router: str | None = None
    dhcp_server: str | None = None
    proxy: dict[str, Any] | None = None
    boot_server: str | None = None
    boot_file: str | None = None
    boot_path: str = ""  # how the boot file was obtained
    boot_reply: dict[str, Any] | None = None  # the 4011 / discovery ACK, when there was one
    tftp: list[dict[str, Any]] = field(default_factory=list)
    tftp_probe: dict[str, Any] | None = None
    pxelinux: dict[str, Any] | None = None
    grub: dict[str, Any] | None = None  # shim and GRUB, when the NBP is one of them
    menu: dict[str, Any] | None = None
    reached: str = ""  # "menu", "boot-file", "kernel", "local-boot", "grub-prompt"
    menu_at: float | None = None  # seconds from start to the PXELINUX menu
    timeline: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def log(self, phase: str, text: str) -> None:
        self.timeline.append({"t": round(time.monotonic() - self.started, 3), "phase": phase,
                              "event": text})

    def fail(self, link: str, message: str) -> WalkResult:
        self.ok = False
        self.failure = {"link": link, "message": message}
        self.log("fail", message)
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "failure": self.failure, "profile": self.profile,
            "interface": self.interface, "mac": self.mac, "arch": self.arch, "uuid": self.uuid,
            "offers": self.offers, "address": self.address, "netmask": self.netmask,
            "router": self.router, "dhcp_server": self.dhcp_server, "proxy": self.proxy,
            "boot_server": self.boot_server, "boot_file": self.boot_file,
            "boot_path": self.boot_path, "boot_reply": self.boot_reply, "tftp": self.tftp,
            "tftp_probe": self.tftp_probe,
            "pxelinux": self.pxelinux or {"search": []}, "grub": self.grub, "menu": self.menu,
            "reached": self.reached, "menu_at": self.menu_at,
            "elapsed": round(time.monotonic() - self.started, 3), "timeline": self.timeline,
        }


def _iface_mac(iface: str) -> bytes:
    with open(f"/sys/class/net/{iface}/address") as fh:
        return bytes.fromhex(fh.read().strip().replace(":", ""))


# Option 93 -> the PE machine types its firmware runs (RFC 4578 / IANA; 7 and 9 both x64).
_EFI_MACHINES = {6: {0x14C}, 7: {0x8664}, 9: {0x8664}, 10: {0x1C0, 0x1C2, 0x1C4},
                 11: {0xAA64}}


def nbp_mismatch(data: bytes, arch: int) -> str:
    """Why firmware of this architecture could not start this NBP ("" when it could)."""
    pe_machine = None
    if data[:2] == b"MZ" and len(data) >= 0x40:
        off = int.from_bytes(data[0x3C:0x40], "little")
        if data[off:off + 4] == b"PE\0\0":
            pe_machine = int.from_bytes(data[off + 4:off + 6], "little")
    if arch == 0:
        if pe_machine is not None:
            return (f"is an EFI image (PE machine {pe_machine:#06x}); a BIOS PXE client "
                    "cannot start it")
        return ""
    wanted = _EFI_MACHINES.get(arch)
    if wanted is None:
        return ""  # an architecture we do not model: no opinion
    if pe_machine is None:
        return (f"is not an EFI image (a BIOS NBP?); a UEFI client (arch {arch}) "
                "cannot start it")
    if pe_machine not in wanted:
        return (f"is an EFI image for PE machine {pe_machine:#06x}; arch {arch} firmware "
                "cannot start it")
    return ""


def _uuid_for(profile: Profile, given: str | None, mac: bytes) -> bytes | None:
    mode = profile.dhcp.uuid
    if mode == "missing":
        return None
    if mode == "zero":
        return bytes(16)
    if mode == "ff":
        return b"\xff" * 16
    if given:
        return uuidlib.UUID(given).bytes  # in written order, as the seed's log shows it
    # A stable UUID per MAC, so repeated probes of one machine look like one machine.
    return uuidlib.uuid5(uuidlib.NAMESPACE_OID, mac.hex()).bytes


def _uuid_text(raw: bytes | None) -> str | None:
    return None if raw is None else str(uuidlib.UUID(bytes=raw))


def options_json(rep: packet.Reply) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for code in rep.order:
        value = rep.options[code]
        if code in _IP_OPTIONS and len(value) % 4 == 0 and value:
            options[str(code)] = ", ".join(packet.ip_str(value[i:i + 4])
                                            for i in range(0, len(value), 4))
        elif code == 43:
            options["43"] = packet.parse_pxe(value).to_json()
        elif code in (53, 52) and value:
            options[str(code)] = value[0]
        elif code in (51, 58, 59) and len(value) == 4:
            options[str(code)] = int.from_bytes(value, "big")
        else:
            try:
                text = value.decode("ascii")
                options[str(code)] = text if text.isprintable() else value.hex()
            except UnicodeDecodeError:
                options[str(code)] = value.hex()
    return options


def offer_json(o: Offer, client: DhcpClient) -> dict[str, Any]:
    rep = o.reply
    options = options_json(rep)
    return {
        "server": o.server, "port": o.port, "kind": "dhcp" if o.has_address else "proxy",
        "pxe": o.is_pxe, "class": o.kind, "yiaddr": rep.yiaddr, "siaddr": rep.siaddr,
        "sname": packet.server_name(rep, honour_overload=client.profile.dhcp.honour_overload),
        "file": client.boot_file(rep), "options": options, "ignored": o.ignored or None,
        "t": round(o.t, 3),
    }


def _reply_json(server: str, rep: packet.Reply, file_: str) -> dict[str, Any]:
    return {"server": server, "siaddr": rep.siaddr, "file": file_,
            "options": options_json(rep)}


@contextlib.contextmanager
def _client_address(iface: str, ip: str, mask: str | None, res: WalkResult) -> Iterator[str]:
    """The leased address on the interface while the walk needs kernel sockets.

    Yields the address to bind sockets to: the leased one when it was put on the interface
    here, "" (any) when the interface already had an address of its own (a real LAN host).
    """
    from pyroute2 import IPRoute

    plen = ipaddress.IPv4Network(f"0.0.0.0/{mask or '255.255.255.0'}").prefixlen
    added = False
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=iface)[0]
        if not ipr.get_addr(index=idx, family=socket.AF_INET):
            ipr.addr("add", index=idx, address=ip, prefixlen=plen)
            added = True
            res.log("net", f"address {ip}/{plen} put on {iface} for 4011 and TFTP")
    try:
        yield ip if added else ""
    finally:
        if added:
            with IPRoute() as ipr, contextlib.suppress(Exception):
                ipr.addr("del", index=idx, address=ip, prefixlen=plen)


def walk(opts: WalkOptions) -> WalkResult:
    profile = opts.profile
    res = WalkResult(profile=profile.name, interface=opts.interface)
    mac = (bytes.fromhex(opts.mac.replace(":", "").replace("-", "")) if opts.mac
           else _iface_mac(opts.interface))
    arch = profile.dhcp.arch if opts.arch is None else opts.arch
    uuid = _uuid_for(profile, opts.uuid, mac)
    res.mac, res.arch, res.uuid = ":".join(f"{b:02x}" for b in mac), arch, _uuid_text(uuid)
    deadline = time.monotonic() + opts.timeout
    link = Link(opts.interface, mac)
    try:
        client = DhcpClient(link, profile, arch=arch, uuid=uuid, log=res.log,
                            offer_wait=opts.offer_wait, deadline=deadline,
                            until_complete=opts.until_complete)
        res.log("start", f"profile {profile.name}, MAC {res.mac}, arch {arch}, "
                f"vendor class {profile.dhcp.vendor_class_for(arch)}, UUID {res.uuid}")
        if opts.uuid and profile.dhcp.uuid != "given":
            res.log("start", f"--uuid ignored: this profile's option 97 is "
                    f"'{profile.dhcp.uuid}' (that is the quirk it models)")
        return _walk(opts, res, client, link, mac, arch, uuid)
    finally:
        link.close()


def _walk(opts: WalkOptions, res: WalkResult, client: DhcpClient, link: Link, mac: bytes,
          arch: int, uuid: bytes | None) -> WalkResult:
    profile = opts.profile
    offers = client.discover()
    res.offers = [offer_json(o, client) for o in offers]
    if not offers:
        return res.fail("dhcp", "no DHCP server answered (no offer to "
                        f"{len(profile.dhcp.retries)} DISCOVERs)")
    address_offer, boot_offer = client.choose(offers)
    if address_offer is None:
        return res.fail("dhcp", "no DHCP server offered an address (only "
                        + ", ".join(f"{o.kind} offers from {o.server}" for o in offers) + ")")
    try:
        ack = client.request(address_offer)
    except DhcpFailure as exc:
        return res.fail("dhcp", str(exc))
    res.address = ack.yiaddr
    res.dhcp_server = ack.server_id or address_offer.server
    if 1 in ack.options:
        res.netmask = packet.ip_str(ack.options[1][:4])
    if 3 in ack.options:
        res.router = packet.ip_str(ack.options[3][:4])
    if boot_offer is None:
        ignored = [o for o in offers if o.kind == "proxy" and o.ignored]
        why = ("; ".join(f"{o.server}: {o.ignored}" for o in ignored) if ignored else
               f"only the DHCP server{'s' if len(offers) > 1 else ''} "
               + ", ".join(sorted({o.server for o in offers})) + " answered, none with PXE data")
        if address_offer.kind == "dhcp" and client.boot_file(address_offer.reply):
            boot_offer = address_offer  # plain DHCP with a boot file: spec ROMs boot it
        else:
            return res.fail("proxy", f"no proxyDHCP offer: {why}")
    with _client_address(opts.interface, res.address, res.netmask, res) as local:
        return _boot(opts, res, client, ack, boot_offer, mac, arch, uuid, local)


def _boot(opts: WalkOptions, res: WalkResult, client: DhcpClient, ack: packet.Reply,
          boot_offer: Offer, mac: bytes, arch: int, uuid: bytes | None, local: str
          ) -> WalkResult:
    profile = opts.profile
    d = profile.dhcp
    rep = boot_offer.reply
    pxe = packet.parse_pxe(rep.options[43]) if 43 in rep.options else None
    boot_server = rep.server_id or boot_offer.server
    res.proxy = {"server": boot_offer.server, "kind": boot_offer.kind,
                 "pxe": pxe.to_json() if pxe else None,
                 "menu": [t for _, t in pxe.menu] if pxe else [],
                 "prompt": pxe.prompt[1] if pxe and pxe.prompt else None,
                 "prompt_timeout": pxe.prompt[0] if pxe and pxe.prompt else None}
    if pxe and pxe.prompt:
        res.log("pxe", f"prompt {pxe.prompt[1]!r} ({pxe.prompt[0]} s; the ROM takes the "
                "default item when it runs out, the probe does not wait)")
    file_ = client.boot_file(rep)
    final: packet.Reply = rep
    final_server = boot_offer.server
    bits = (pxe.discovery_control or 0) if pxe else 0
    direct = bool(bits & 0x08)
    want_4011 = d.proxy_needs_4011 and boot_offer.kind == "proxy"
    if pxe is not None and pxe.menu and not direct:
        idx = max(1, opts.pxe_item) - 1
        if idx >= len(pxe.menu):
            return res.fail("proxy", f"PXE menu has {len(pxe.menu)} items, no item {idx + 1}")
        btype, text = pxe.menu[idx]
        res.log("pxe", f"menu item {idx + 1} {text!r} (boot server type {btype})")
        if btype == 0:
            res.ok, res.reached = True, "local-boot"
            res.boot_path = "menu item type 0: local boot"
            res.log("pxe", "type 0 means boot from local disk: network boot ends here")
            return res
        targets = next((ips for t, ips in pxe.boot_servers if t == btype), [])
        got = None
        if targets:
            for target in targets:
                got = client.pxe_request(res.address or "", local, target, item=(btype, 0))
                if got:
                    break
        elif not bits & 0x01:
            got = client.pxe_request(res.address or "", local, boot_server, item=(btype, 0),
                                     broadcast=True)
        else:
            got = client.pxe_request(res.address or "", local, boot_server, item=(btype, 0))
        if got is None:
            where = (", ".join(f"{t}:4011" for t in targets) if targets
                     else "broadcast to port 67" if not bits & 0x01 else f"{boot_server}:4011")
            return res.fail("boot-server", f"no boot server answered discovery for type "
                            f"{btype} ({where})")
        final_server, final = got
        file_ = client.boot_file(final)
        res.boot_reply = _reply_json(final_server, final, file_)
        res.boot_path = f"boot-server discovery type {btype} to {final_server}"
    elif want_4011 or (d.binl_request and pxe is None and boot_offer.kind == "proxy") or (
            d.ipxe_proxy_request and not file_ and not (pxe and pxe.menu)):
        why = ("this client ignores boot data in port-67 proxy offers" if want_4011 else
               "BINL offer (no option 43)" if d.binl_request and pxe is None else
               "proxy offer has no boot file and no menu")
        res.log("pxe", f"asks {boot_server}:4011 ({why})")
        got = client.pxe_request(res.address or "", local, boot_server, item=None)
        if got is None:
            return res.fail("boot-server", f"no answer from {boot_server}:4011 ({why})")
        final_server, final = got
        file_ = client.boot_file(final)
        res.boot_reply = _reply_json(final_server, final, file_)
        res.boot_path = f"request to {final_server}:4011 ({why})"
    else:
        res.boot_path = f"{boot_offer.kind} offer from {boot_offer.server}"
    if not file_:
        return res.fail("proxy", f"the boot data from {final_server} names no boot file")
    tftp_server = final.siaddr if final.siaddr != "0.0.0.0" else (final.server_id or final_server)
    res.boot_file, res.boot_server = file_, tftp_server
    res.log("tftp", f"boot file {file_!r} on {tftp_server}")
    if not file_.isprintable():
        res.log("tftp", f"the boot file name holds unprintable bytes: {file_.encode('latin-1')!r}")
    t = profile.tftp
    if t.probe == "tsize":
        probe = tftp.tsize_probe(tftp_server, file_, blksize=t.probe_blksize,
                                 abort_code=t.probe_error, timeout=t.timeout,
                                 localip=local)
        res.tftp_probe = probe.to_json()
        res.log("tftp", f"size probe {file_}: {probe.answer}"
                + (f", tsize {probe.tsize}" if probe.tsize is not None else "")
                + (f" ({probe.error})" if probe.error else "")
                + (f", aborted with ERROR {t.probe_error}" if probe.answer == "oack" else ""))
    nbp = tftp.fetch(tftp_server, file_, blksize=t.blksize, tsize=t.tsize, timeout=t.timeout,
                     retries=t.retries, localip=local)
    res.tftp.append(nbp.to_json())
    if not nbp.found:
        return res.fail("tftp", f"boot file {file_} not found on {tftp_server} ({nbp.error})")
    res.log("tftp", f"{file_}: {nbp.bytes} bytes")
    mismatch = nbp_mismatch(nbp.data, arch)
    if mismatch:
        return res.fail("nbp", f"boot file {file_} {mismatch}")
    if posixpath.basename(file_).lower() not in PXELINUX_NBPS:
        if is_shim(nbp.data) or is_grub(file_, nbp.data):
            return _grub(opts, res, ack, tftp_server, file_, nbp.data, mac, arch, uuid, local)
        res.ok, res.reached = True, "boot-file"
        return res
    # PXELINUX reads 209/210 from the cached packets: the ACK, then the boot reply.
    opt = {**ack.options, **final.options}
    o209 = packet.c_string(opt[209]) if 209 in opt else None
    o210 = packet.c_string(opt[210]) if 210 in opt else None
    emu = Pxelinux(tftp_server, file_, profile, lambda f: res.tftp.append(f.to_json()), res.log,
                   localip=local)
    try:
        out = emu.run(mac=mac, ip=res.address or "0.0.0.0", uuid=uuid, arch=arch,
                      option209=o209, option210=o210, select=opts.select)
    except PxelinuxFailure as exc:
        res.pxelinux = emu.result.to_json()
        if emu.result.menu is not None:
            res.menu = emu.result.menu
            res.menu_at = next((e["t"] for e in res.timeline if e["phase"] == "menu"), None)
        return res.fail("pxelinux", str(exc))
    res.pxelinux = out.to_json()
    res.menu = out.menu
    res.menu_at = next((e["t"] for e in res.timeline if e["phase"] == "menu"), None)
    res.ok = True
    res.reached = "kernel" if out.selected else "menu"
    return res


def _grub(opts: WalkOptions, res: WalkResult, ack: packet.Reply, server: str, nbp: str,
          data: bytes, mac: bytes, arch: int, uuid: bytes | None, local: str) -> WalkResult:
    """shim (if the NBP is shim) and GRUB. GRUB reads the DHCPACK the firmware kept, `ack`
    (the address server's), never the proxy's offer: see pxelab.client.grub."""
    chain = Chain(opts.profile, lambda f: res.tftp.append(f.to_json()), res.log, localip=local)
    image, image_data = nbp, data
    try:
        if is_shim(data):
            image, image_data = chain.shim(server, nbp)
            if not is_grub(image, image_data):
                res.grub = chain.result.to_json()
                res.ok, res.reached = True, "boot-file"
                return res
        # GRUB's option 97 is the ACK's (a full DHCP server like dnsmasq sends none).
        ack_uuid = ack.options.get(97)
        out = chain.grub(image=image, data=image_data, siaddr=ack.siaddr,
                         sname=packet.c_string(ack.sname_field) if not ack.overload & 2 else "",
                         ack_server=res.dhcp_server or "?", mac=mac, ip=res.address or "0.0.0.0",
                         uuid=ack_uuid, arch=arch, select=opts.select)
    except GrubFailure as exc:
        res.grub = chain.result.to_json()
        if chain.result.menu is not None:
            res.menu = chain.result.menu
            res.menu_at = next((e["t"] for e in res.timeline if e["phase"] == "menu"), None)
        if exc.reached:
            res.reached = exc.reached
        return res.fail("grub", str(exc))
    res.grub = out.to_json()
    res.menu = out.menu
    res.menu_at = next((e["t"] for e in res.timeline if e["phase"] == "menu"), None)
    res.ok = True
    res.reached = "kernel" if out.selected else "menu"
    return res
