"""QEMU machine profiles: the TOML files in vm/ (pc-bios, uefi-x64-edk2, ...) as typed objects.

A profile says what the machine is (QEMU binary, board, CPU, memory, firmware, NIC, option ROM,
MAC, SMBIOS UUID, accelerator); `machines.vm` adds what the run needs (tap, console, QMP).

    profile = load_profile("wyse-sx0")           # a name in vm/, or a path to a .toml
    argv = profile.machine_args(accel="tcg", vars_file=tmp / "vars.fd")
"""

from __future__ import annotations

import re
import shutil
import tomllib
import uuid as uuidlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
PROFILE_DIR = REPO / "vm"

ACCELERATORS = ("tcg", "kvm", "auto")
FIRMWARE_TYPES = ("bios", "uefi")
# EDK2's network boot stacks, switched through fw_cfg files OVMF/ArmVirtQemu read at boot
# (edk2 OvmfPkg, QemuFwCfgSimpleParser). Measured here with Debian 12's OVMF 2022.11:
# IPv4PXESupport/IPv6PXESupport switch one PXE stack; IPv4Support/IPv6Support switch a whole IP
# version (IPv4Support=n also removed PXEv4, leaving only HTTPv6). So HTTPv4 cannot be switched
# off while PXEv4 runs; it only runs after PXEv4 has failed. PXEv6 waits ~60 s for DHCPv6.
STACKS = ("pxe4", "pxe6", "http4", "http6")
_PXE_FWCFG = {
    "pxe4": "opt/org.tianocore/IPv4PXESupport",
    "pxe6": "opt/org.tianocore/IPv6PXESupport",
}
_IP_FWCFG = {
    "opt/org.tianocore/IPv4Support": ("pxe4", "http4"),
    "opt/org.tianocore/IPv6Support": ("pxe6", "http6"),
}
# The Debian package each QEMU binary a profile may name comes in (for the "not installed" hint).
QEMU_PACKAGES = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-system-i386": "qemu-system-x86",
    "qemu-system-aarch64": "qemu-system-arm",
    "qemu-system-arm": "qemu-system-arm",
}
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class ProfileError(ValueError):
    """A profile that cannot describe a machine: names the file, the field and what is wrong."""


@dataclass(frozen=True)
class Firmware:
    type: str = "bios"
    code: Path | None = None  # UEFI: the read-only code flash
    vars: Path | None = None  # UEFI: the variable store template, copied per VM
    # UEFI: the network stacks that run (of STACKS); None = the firmware's default (all four).
    network: tuple[str, ...] | None = None
    # UEFI Secure Boot needs SMM and a flash only SMM code may write (else the OS could rewrite
    # the key store): q35,smm=on plus cfi.pflash01 secure=on.
    secure_boot: bool = False


@dataclass(frozen=True)
class Nic:
    model: str = "rtl8139"
    romfile: Path | None = None
    mac: str = "52:54:00:12:34:56"
    # False: `romfile=` (no option ROM at all: OVMF/AAVMF drive virtio-net with their own
    # driver and PXE stack). True: `romfile` if given, else QEMU's default ROM for the model.
    rom: bool = True
    bootindex: int | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    qemu: str
    machine: str
    memory_mib: int
    cpu: str = ""
    description: str = ""
    accelerator: str = "tcg"
    firmware: Firmware = field(default_factory=Firmware)
    nic: Nic = field(default_factory=Nic)
    uuid: str = ""
    columns: int = 80
    rows: int = 25
    encoding: str = "utf-8"
    extra: tuple[str, ...] = ()
    source: Path | None = None

    def with_mac(self, mac: str) -> Profile:
        """The same machine with another MAC (several VMs of one profile on one lab)."""
        return replace(self, nic=replace(self.nic, mac=_check_mac(mac, self.source, "nic.mac")))

    def with_uuid(self, uuid: str) -> Profile:
        """The same machine with another SMBIOS UUID ("" for none)."""
        if uuid:
            try:
                uuid = str(uuidlib.UUID(uuid))
            except ValueError:
                raise ProfileError(f"{self.source}: smbios.uuid = {uuid!r} is not a UUID") from None
        return replace(self, uuid=uuid)

    def qemu_binary(self) -> str:
        path = shutil.which(self.qemu)
        if path is None:
            raise ProfileError(
                f"{self.source or self.name}: qemu = {self.qemu!r} is not installed "
                f"(package {QEMU_PACKAGES.get(self.qemu, 'qemu-system-*')}; "
                "`pxelab doctor --install`)"
            )
        return path

    def machine_args(self, *, accel: str, vars_file: Path | None = None) -> list[str]:
        """QEMU arguments for the machine itself: board, CPU, memory, firmware, SMBIOS.

        `vars_file` is this VM's own copy of the UEFI variable store (required for UEFI).
        """
        if accel not in ("tcg", "kvm"):
            raise ValueError(f"accelerator must be resolved to tcg or kvm, not {accel!r}")
        # graphics=off: SeaBIOS copies the BIOS text console to the serial port (sercon),
        # which is how iPXE's and PXELINUX's output reach the console at all. ARM's `virt`
        # has no such property (and no VGA: its firmware console is the serial port anyway).
        machine = f"{self.machine},graphics=off" if self.machine != "virt" else self.machine
        if self.firmware.secure_boot:
            machine += ",smm=on"
        args = ["-machine", machine, "-accel", accel]
        if self.cpu:
            args += ["-cpu", self.cpu]
        args += ["-m", str(self.memory_mib)]
        if self.firmware.type == "uefi":
            if vars_file is None:
                raise ValueError(f"{self.name}: a UEFI machine needs its own copy of the vars")
            args += [
                "-drive",
                f"if=pflash,format=raw,unit=0,readonly=on,file={self.firmware.code}",
                "-drive",
                f"if=pflash,format=raw,unit=1,file={vars_file}",
            ]
            if self.firmware.secure_boot:
                args += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
            args += self.network_args()
        if self.uuid:
            args += ["-uuid", self.uuid]
        return args

    def network_args(self) -> list[str]:
        """-fw_cfg switches for each EDK2 network stack, when the profile names the ones to run."""
        if self.firmware.network is None:
            return []
        wanted = set(self.firmware.network)
        switches = {name: stack in wanted for stack, name in _PXE_FWCFG.items()}
        # An IP version goes off entirely when none of its stacks is wanted.
        switches |= {name: bool(wanted & set(stacks)) for name, stacks in _IP_FWCFG.items()}
        args: list[str] = []
        for name, on in switches.items():
            args += ["-fw_cfg", f"name={name},string={'y' if on else 'n'}"]
        return args

    def nic_args(self, netdev_id: str) -> list[str]:
        device = f"{self.nic.model},netdev={netdev_id},mac={self.nic.mac}"
        if not self.nic.rom:
            device += ",romfile="
        elif self.nic.romfile is not None:
            device += f",romfile={self.nic.romfile}"
        if self.nic.bootindex is not None:
            device += f",bootindex={self.nic.bootindex}"
        return ["-device", device]


def profile_path(name_or_path: str | Path) -> Path:
    """A profile name (`wyse-sx0`) resolves to vm/<name>.toml; anything else is a path."""
    text = str(name_or_path)
    if "/" not in text and not text.endswith(".toml"):
        return PROFILE_DIR / f"{text}.toml"
    return Path(text)


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    path = profile_path(name_or_path)
    if not path.exists():
        raise ProfileError(
            f"{path}: no such machine profile (known: {', '.join(available_profiles())})"
        )
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: {exc}") from None
    return parse_profile(data, source=path)


def _get(data: dict[str, Any], key: str, kind: type, source: Path | None, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ProfileError(f"{source}: {where}{key} must be a {kind.__name__}, got {value!r}")
    return value


def _check_mac(mac: str, source: Path | None, where: str) -> str:
    mac = mac.lower()
    if not _MAC.match(mac):
        raise ProfileError(f"{source}: {where} = {mac!r} is not a MAC like 00:80:64:71:ab:0a")
    return mac


def _check_encoding(name: str, source: Path | None) -> str:
    import codecs

    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ProfileError(f"{source}: console.encoding = {name!r} is not an encoding") from None


def _optional_path(value: Any, source: Path | None, where: str, required: bool) -> Path | None:
    if value in (None, ""):
        if required:
            raise ProfileError(f"{source}: {where} is required")
        return None
    if not isinstance(value, str):
        raise ProfileError(f"{source}: {where} must be a path, got {value!r}")
    path = Path(value)
    if not path.exists():
        raise ProfileError(f"{source}: {where} = {value} does not exist on this machine")
    return path


def _network(value: Any, source: Path | None, uefi: bool) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not uefi:
        raise ProfileError(f"{source}: firmware.network is for UEFI firmware only")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(f'{source}: firmware.network must be a list like ["pxe4"]')
    unknown = sorted(set(value) - set(STACKS))
    if unknown:
        raise ProfileError(
            f"{source}: firmware.network: unknown stack(s) {', '.join(unknown)} "
            f"(known: {', '.join(STACKS)})"
        )
    return tuple(value)


def parse_profile(data: dict[str, Any], source: Path | None = None) -> Profile:
    """A profile from parsed TOML; every error names the file and the field."""
    known = {
        "name",
        "description",
        "qemu",
        "machine",
        "cpu",
        "memory_mib",
        "accelerator",
        "extra",
        "firmware",
        "nic",
        "smbios",
        "console",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ProfileError(f"{source}: unknown field(s) {', '.join(unknown)}")
    name = _get(data, "name", str, source, "")
    accelerator = data.get("accelerator", "tcg")
    if accelerator not in ACCELERATORS:
        raise ProfileError(
            f"{source}: accelerator = {accelerator!r}, expected one of {', '.join(ACCELERATORS)}"
        )
    memory = _get(data, "memory_mib", int, source, "")
    if memory < 16:
        raise ProfileError(f"{source}: memory_mib = {memory} is too small to boot anything")

    fw = data.get("firmware", {})
    fw_type = fw.get("type", "bios")
    if fw_type not in FIRMWARE_TYPES:
        raise ProfileError(f"{source}: firmware.type = {fw_type!r}, expected bios or uefi")
    uefi = fw_type == "uefi"
    secure = fw.get("secure_boot", False)
    if not isinstance(secure, bool):
        raise ProfileError(f"{source}: firmware.secure_boot must be true or false, got {secure!r}")
    firmware = Firmware(
        type=fw_type,
        code=_optional_path(fw.get("code"), source, "firmware.code", uefi),
        vars=_optional_path(fw.get("vars"), source, "firmware.vars", uefi),
        network=_network(fw.get("network"), source, uefi),
        secure_boot=secure,
    )

    nic_data = data.get("nic", {})
    rom = nic_data.get("rom", True)
    if not isinstance(rom, bool):
        raise ProfileError(f"{source}: nic.rom must be true or false, got {rom!r}")
    bootindex = nic_data.get("bootindex")
    if bootindex is not None and (
        not isinstance(bootindex, int) or isinstance(bootindex, bool) or bootindex < 0
    ):
        raise ProfileError(f"{source}: nic.bootindex must be a number >= 0, got {bootindex!r}")
    nic = Nic(
        model=nic_data.get("model", "rtl8139"),
        romfile=_optional_path(nic_data.get("romfile"), source, "nic.romfile", False),
        mac=_check_mac(nic_data.get("mac", Nic.mac), source, "nic.mac"),
        rom=rom,
        bootindex=bootindex,
    )

    uuid = data.get("smbios", {}).get("uuid", "")
    if uuid:
        try:
            uuid = str(uuidlib.UUID(uuid))
        except ValueError:
            raise ProfileError(f"{source}: smbios.uuid = {uuid!r} is not a UUID") from None

    console = data.get("console", {})
    extra = data.get("extra", [])
    if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
        raise ProfileError(f"{source}: extra must be a list of strings")
    return Profile(
        name=name,
        description=data.get("description", ""),
        qemu=_get(data, "qemu", str, source, ""),
        machine=_get(data, "machine", str, source, ""),
        cpu=data.get("cpu", ""),
        memory_mib=memory,
        accelerator=accelerator,
        firmware=firmware,
        nic=nic,
        uuid=uuid,
        columns=int(console.get("columns", 80)),
        rows=int(console.get("rows", 25)),
        encoding=_check_encoding(console.get("encoding", "utf-8"), source),
        extra=tuple(extra),
        source=source,
    )


def pxelinux_uuid_name(qemu_uuid: str) -> str:
    """The UUID file name PXELINUX (through iPXE) asks for on a VM started with `-uuid`.

    Measured here: the first three fields come out byte-swapped (SMBIOS 2.6 encoding).
    """
    u = uuidlib.UUID(qemu_uuid)
    return str(uuidlib.UUID(bytes=u.bytes_le))
