"""Client quirk profiles: how one kind of PXE firmware behaves, as data.

A profile is a TOML file in `pxelab/client/profiles/<name>.toml` (package data), read into a
`Profile`. Every knob has a default here, so a profile file only states what makes that firmware
different, with a comment saying where the behaviour comes from. The files are meant to be read
by a person without reading this code; the keys are:

[dhcp]   arch, undi (major, minor), vendor_class (template; "{arch:05d}", "{undi_major:03d}",
         "{undi_minor:03d}"), param_request_list, max_message_size, user_class, send_175,
         uuid ("given" | "missing" | "zero" | "ff"), retries (seconds per DISCOVER attempt),
         offer_wait (seconds to keep collecting after the first offer), stop_when_complete
         (stop collecting once an address offer and a proxy offer are in), broadcast_flag,
         needs_option60 (ignore boot data from an offer without option 60 "PXEClient"),
         honour_overload (false: read sname/file as names even when option 52 says they hold
         options), bootfile_nul_terminated (true: read option 67 up to the next NUL in the
         packet, as if it were a C string, so an unterminated name picks up the bytes after it),
         proxy_needs_4011 (ignore boot data in a port-67 proxy offer; always ask port 4011),
         ipxe_proxy_request (send iPXE's ProxyDHCPREQUEST to 4011 when the proxy offer has
         neither file nor menu), binl_request (EDK2: a proxy offer without option 43 is a
         "BINL" offer; ask its server on port 4011 for the boot file), option_order and
         pxe_option_order (the order options go out in, on port 67 and to port 4011),
         request_max_message_size (option 57 in the REQUEST), request_secs, pxe_broadcast_flag,
         pxe_source_port
[tftp]   blksize (0: do not ask), tsize, probe ("" | "tsize"), probe_blksize, probe_error,
         timeout, retries
[pxelinux] blksize, tsize (what PXELINUX itself sends on every RRQ)
[shim]   files (what shim asks its own server for before its loader, in order), loader (the
         second stage, from shim's own directory), blksize, tsize (shim's RRQ options)
[grub]   blksize, tsize (GRUB's RRQ options; GRUB puts a leading '/' on every name)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

UUID_MODES = ("given", "missing", "zero", "ff")


@dataclass(frozen=True)
class DhcpBehaviour:
    arch: int = 0
    undi: tuple[int, int] = (2, 1)
    vendor_class: str = "PXEClient:Arch:{arch:05d}:UNDI:{undi_major:03d}{undi_minor:03d}"
    param_request_list: tuple[int, ...] = (
        1,
        3,
        43,
        60,
        66,
        67,
        128,
        129,
        130,
        131,
        132,
        133,
        134,
        135,
    )
    max_message_size: int = 1260
    user_class: str = ""
    send_175: bool = False
    uuid: str = "given"
    retries: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0)
    offer_wait: float = 4.0
    stop_when_complete: bool = False
    broadcast_flag: bool = True
    needs_option60: bool = True
    honour_overload: bool = True
    bootfile_nul_terminated: bool = False
    proxy_needs_4011: bool = False
    ipxe_proxy_request: bool = False
    binl_request: bool = False
    # Byte-exact request layout (EDK2, from tests/captures/edk2-uefi-x64-*.pcap). Empty order:
    # 57, 55, 93, 94, 97, 60, ...; else options in this order (53 always first, others after).
    option_order: tuple[int, ...] = ()
    pxe_option_order: tuple[int, ...] = ()  # the port-4011 request's order
    request_max_message_size: int = 0  # option 57 in the port-67 REQUEST (0: max_message_size)
    request_secs: bool = True  # false: the REQUEST's secs field is 0 (EDK2's Dhcp4 does that)
    pxe_broadcast_flag: bool = True  # the broadcast flag in the port-4011 request
    pxe_source_port: int = 68  # the port the port-4011 request is sent from

    def vendor_class_for(self, arch: int) -> str:
        return self.vendor_class.format(arch=arch, undi_major=self.undi[0], undi_minor=self.undi[1])


@dataclass(frozen=True)
class TftpBehaviour:
    blksize: int = 0
    tsize: bool = False
    probe: str = ""
    probe_blksize: int = 0
    probe_error: int = 0
    timeout: float = 4.0
    retries: int = 3


@dataclass(frozen=True)
class PxelinuxBehaviour:
    blksize: int = 1408
    tsize: bool = True


@dataclass(frozen=True)
class ShimBehaviour:
    # Debian 12 shim-signed (shim 16.1) under OVMF, tests/captures/ovmf-secureboot-shim-grub.pcap:
    # these three (not found is fine), then the loader, all RRQ `blksize 512 windowsize 4`.
    files: tuple[str, ...] = ("revocations_sku.efi", "revocations_sbat.efi",
                              "shim_certificate_0.efi")
    loader: str = "grubx64.efi"
    blksize: int = 512
    tsize: bool = False


@dataclass(frozen=True)
class GrubBehaviour:
    # Debian 12 grubnetx64.efi.signed, same capture: RRQ `/path octet blksize 1024 tsize 0`.
    blksize: int = 1024
    tsize: bool = True


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    dhcp: DhcpBehaviour = field(default_factory=DhcpBehaviour)
    tftp: TftpBehaviour = field(default_factory=TftpBehaviour)
    pxelinux: PxelinuxBehaviour = field(default_factory=PxelinuxBehaviour)
    shim: ShimBehaviour = field(default_factory=ShimBehaviour)
    grub: GrubBehaviour = field(default_factory=GrubBehaviour)


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the key."""


def _section(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ProfileError(f"{where}: unknown key {key!r} (known: {', '.join(known)})")
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list):
                raise ProfileError(f"{where}.{key}: expected a list, got {value!r}")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ProfileError(f"{where}.{key}: expected true/false, got {value!r}")
        elif isinstance(default, float):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ProfileError(f"{where}.{key}: expected a number, got {value!r}")
            value = float(value)
        elif not isinstance(value, type(default)) or isinstance(value, bool):
            raise ProfileError(f"{where}.{key}: expected {type(default).__name__}, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def parse_profile(text: str, name: str, source: str = "<profile>") -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: {exc}") from exc
    extra = set(data) - {"description", "dhcp", "tftp", "pxelinux", "shim", "grub"}
    if extra:
        raise ProfileError(f"{source}: unknown section or key {sorted(extra)}")
    dhcp = _section(DhcpBehaviour, data.get("dhcp", {}), f"{source}: [dhcp]")
    if dhcp.uuid not in UUID_MODES:
        raise ProfileError(f"{source}: [dhcp].uuid must be one of {UUID_MODES}, got {dhcp.uuid!r}")
    if len(dhcp.undi) != 2:
        raise ProfileError(f"{source}: [dhcp].undi must be [major, minor]")
    if not dhcp.retries:
        raise ProfileError(f"{source}: [dhcp].retries must list at least one timeout")
    tftp = _section(TftpBehaviour, data.get("tftp", {}), f"{source}: [tftp]")
    if tftp.probe not in ("", "tsize"):
        raise ProfileError(f'{source}: [tftp].probe must be "" or "tsize"')
    return Profile(
        name=name,
        description=str(data.get("description", "")),
        dhcp=dhcp,
        tftp=tftp,
        pxelinux=_section(PxelinuxBehaviour, data.get("pxelinux", {}), f"{source}: [pxelinux]"),
        shim=_section(ShimBehaviour, data.get("shim", {}), f"{source}: [shim]"),
        grub=_section(GrubBehaviour, data.get("grub", {}), f"{source}: [grub]"),
    )


def _profiles_dir() -> Any:
    return resources.files("pxelab.client").joinpath("profiles")


def available() -> list[str]:
    """The names of the profiles shipped with pxelab."""
    return sorted(p.name[:-5] for p in _profiles_dir().iterdir() if p.name.endswith(".toml"))


def load(name_or_path: str) -> Profile:
    """A shipped profile by name, or a profile file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return parse_profile(path.read_text(encoding="utf-8"), path.stem, str(path))
    entry = _profiles_dir().joinpath(f"{name_or_path}.toml")
    if not entry.is_file():
        raise ProfileError(
            f"no client profile {name_or_path!r} (shipped: {', '.join(available())})"
        )
    return parse_profile(entry.read_text(encoding="utf-8"), name_or_path, f"{name_or_path}.toml")
