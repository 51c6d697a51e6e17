"""TFTP trees for labs: PXELINUX and its modules from the system, plus a scenario's files.

The seed's tree (scenarios/seed-tinycore/) is the reference: pxelinux.0 with ldlinux.c32,
menu.c32 and the libraries menu.c32 loads, a pxelinux.cfg/default, and the kernels the menu
names. Binaries are copied from Debian's pxelinux/syslinux-common/syslinux-efi packages at
build time rather than committed, so the lab always boots what the distribution ships.

    tree = seed_tree(tmp / "tftpboot")           # the seed's menu, placeholder kernels
    conf = write_dnsmasq_conf(SEED_DIR / "dnsmasq.conf", tmp / "dnsmasq.conf", tree)
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCENARIOS = REPO / "scenarios"
SEED_DIR = SCENARIOS / "seed-tinycore"

BIOS_FILES: dict[str, str] = {
    "pxelinux.0": "/usr/lib/PXELINUX/pxelinux.0",
    "ldlinux.c32": "/usr/lib/syslinux/modules/bios/ldlinux.c32",
    "menu.c32": "/usr/lib/syslinux/modules/bios/menu.c32",
    "libutil.c32": "/usr/lib/syslinux/modules/bios/libutil.c32",
    "libcom32.c32": "/usr/lib/syslinux/modules/bios/libcom32.c32",
}

EFI64_FILES: dict[str, str] = {
    "syslinux.efi": "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi",
    "ldlinux.e64": "/usr/lib/syslinux/modules/efi64/ldlinux.e64",
    "menu.c32": "/usr/lib/syslinux/modules/efi64/menu.c32",
    "libutil.c32": "/usr/lib/syslinux/modules/efi64/libutil.c32",
    "libcom32.c32": "/usr/lib/syslinux/modules/efi64/libcom32.c32",
}

# Secure Boot's signed chain, as Debian ships it: shim (signed by Microsoft's UEFI CA) loads
# `grubx64.efi` from its own directory, and Debian's signed network GRUB (prefix `/grub`) reads
# grub/grub.cfg. Both at the tree's root, so a router's boot_file or a pxe-service names them
# as they are.
SHIM_FILES: dict[str, str] = {
    "shimx64.efi": "/usr/lib/shim/shimx64.efi.signed",
    "grubx64.efi": "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
}

# The files the seed's menu boots. Scripted clients only need them to exist with a known size
# and content; VM scenarios replace them with the test guest's kernel and initramfs.
SEED_IMAGES = ("images/tc/vmlinuz", "images/tc/core.gz", "images/wyseSx0/vmlinuz")


class TreeError(RuntimeError):
    """A file the tree needs is not on this machine (names the package that has it)."""


def placeholder(name: str, size: int = 256 * 1024) -> bytes:
    """Deterministic, recognisable bytes standing in for a kernel or initrd."""
    seed = hashlib.sha256(name.encode()).digest()
    block = (b"PXELAB-PLACEHOLDER " + name.encode() + b" " + seed) * 64
    return (block * (size // len(block) + 1))[:size]


def place(root: Path, relpath: str, source: Path | bytes) -> Path:
    """Put one file into the tree (copy or bytes), world-readable for a server that dropped root."""
    dest = root / relpath
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, bytes):
        dest.write_bytes(source)
    else:
        if not Path(source).exists():
            raise TreeError(f"{source} is missing: run `pxelab doctor --install`")
        shutil.copyfile(source, dest)
    dest.chmod(0o644)
    return dest


def install_bios(root: Path, subdir: str = "") -> None:
    for name, src in BIOS_FILES.items():
        place(root, f"{subdir}/{name}".lstrip("/"), Path(src))


def install_efi64(root: Path, subdir: str = "efi64") -> None:
    for name, src in EFI64_FILES.items():
        place(root, f"{subdir}/{name}".lstrip("/"), Path(src))


def install_shim(root: Path, subdir: str = "") -> None:
    for name, src in SHIM_FILES.items():
        place(root, f"{subdir}/{name}".lstrip("/"), Path(src))


def make_readable(root: Path) -> None:
    """dnsmasq (and pxelab after dropping privileges) read the tree as an unprivileged user."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def build_tree(
    root: Path,
    *,
    bios: bool = True,
    efi64: bool = False,
    files: Mapping[str, Path | bytes] | None = None,
    config_dir: Path | None = None,
    shim: bool = False,
) -> Path:
    """A TFTP root with PXELINUX (BIOS and/or efi64/), `files`, and a scenario's config folders.
    `shim`: the signed shimx64.efi and grubx64.efi at the root too (SHIM_FILES).

    `config_dir` is copied as is (its pxelinux.cfg/, efi64/pxelinux.cfg/, ...), so a scenario
    keeps its menus beside its scenario.toml.
    """
    root.mkdir(parents=True, exist_ok=True)
    if bios:
        install_bios(root)
    if efi64:
        install_efi64(root)
    if shim:
        install_shim(root)
    if config_dir is not None:
        shutil.copytree(config_dir, root, dirs_exist_ok=True)
    for relpath, source in (files or {}).items():
        place(root, relpath, source)
    make_readable(root)
    return root


def seed_tree(
    root: Path, *, images: Mapping[str, Path | bytes] | None = None, efi64: bool = False
) -> Path:
    """The seed's tree: PXELINUX, the seed's pxelinux.cfg/default, and its three images."""
    files: dict[str, Path | bytes] = {name: placeholder(name) for name in SEED_IMAGES}
    files.update(images or {})
    files["pxelinux.cfg/default"] = SEED_DIR / "pxelinux.cfg" / "default"
    if efi64:
        # syslinux.efi resolves the menu's relative kernel paths against its own directory.
        files["efi64/pxelinux.cfg/default"] = SEED_DIR / "pxelinux.cfg" / "default"
        for name in SEED_IMAGES:
            files[f"efi64/{name}"] = files[name]
    return build_tree(root, efi64=efi64, files=files)


_TFTP_ROOT = re.compile(r"^(\s*tftp-root\s*=\s*)([^,\s]+)(.*)$", re.MULTILINE)


def adjust_dnsmasq_conf(text: str, tftp_root: Path) -> str:
    """The same configuration with its tftp-root pointing at `tftp_root`; nothing else changes."""
    return _TFTP_ROOT.sub(lambda m: f"{m.group(1)}{tftp_root}{m.group(3)}", text)


def write_dnsmasq_conf(source: Path, dest: Path, tftp_root: Path, extra: str = "") -> Path:
    """Copy a dnsmasq.conf with its paths adjusted (and lab-only lines appended, if any)."""
    text = adjust_dnsmasq_conf(Path(source).read_text(), tftp_root)
    if extra:
        text = text.rstrip("\n") + "\n" + extra.rstrip("\n") + "\n"
    dest.write_text(text)
    dest.chmod(0o644)
    return dest
