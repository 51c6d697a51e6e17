"""`pxelab check`: each NBP is the program its clients can start (PE machine, BIOS vs UEFI), and
with the Secure Boot hint an unsigned one is a warning. Real files from Debian's packages:
pxelinux.0, syslinux.efi (efi64 and efi32), shimx64.efi.signed, grubnetx64.efi.signed."""

from __future__ import annotations

import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxelab.boot import images
from pxelab.cli import main

REAL = {
    "pxelinux.0": "/usr/lib/PXELINUX/pxelinux.0",
    "efi/syslinux64.efi": "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi",
    "efi/syslinux32.efi": "/usr/lib/SYSLINUX.EFI/efi32/syslinux.efi",
    "shimx64.efi": "/usr/lib/shim/shimx64.efi.signed",
    "grubx64.efi": "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
}


def head(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(65536)


def aa64_copy(data: bytes) -> bytes:
    """syslinux.efi with its COFF machine patched to AArch64: a PE that only says 0xAA64."""
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    return data[: pe + 4] + struct.pack("<H", 0xAA64) + data[pe + 6 :]


@pytest.fixture
def root() -> Iterator[Path]:
    """A world-readable TFTP root (the check reads it as dnsmasq's `nobody`) with the real
    files under names PXELINUX's own checks leave alone, so only check_nbp speaks."""
    for src in REAL.values():
        if not Path(src).exists():
            pytest.fail(f"{src} is missing: run `pxelab doctor --install`")
    base = Path(tempfile.mkdtemp(prefix="pxelab-nbp-"))
    try:
        base.chmod(0o755)
        tree = base / "tftp"
        for name, src in REAL.items():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, tree / name)
        (tree / "efi" / "aa64.efi").write_bytes(
            aa64_copy(Path(REAL["efi/syslinux64.efi"]).read_bytes())
        )
        # PXELINUX's own chains (ldlinux, a config) so PXELINUX's checks are quiet.
        for dest, src in (
            ("ldlinux.c32", "bios/ldlinux.c32"),
            ("efi/ldlinux.e64", "efi64/ldlinux.e64"),
            ("efi/ldlinux.e32", "efi32/ldlinux.e32"),
        ):
            shutil.copy(f"/usr/lib/syslinux/modules/{src}", tree / dest)
        for cfg in (tree / "pxelinux.cfg", tree / "efi" / "pxelinux.cfg"):
            cfg.mkdir()
            (cfg / "default").write_text("default local\nlabel local\n  localboot 0\n")
        for p in [tree, *tree.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        yield tree
    finally:
        shutil.rmtree(base)


def conf(root: Path, *lines: str, proxy: bool = True) -> Path:
    p = root.parent / "dnsmasq.conf"
    ranges = ["dhcp-range=192.168.10.0,proxy"] if proxy else []
    p.write_text("\n".join(["port=0", "enable-tftp", f"tftp-root={root}", *lines, *ranges]) + "\n")
    return p


def run(capsys, path: Path, *extra: str) -> tuple[int, str]:
    code = main(["check", "--dnsmasq-conf", str(path), *extra])
    return code, capsys.readouterr().out


def test_pe_facts_of_the_real_files() -> None:
    assert images.pe_machine(head(REAL["pxelinux.0"])) is None
    assert images.is_signed(head(REAL["pxelinux.0"])) is None
    assert images.pe_machine(head(REAL["efi/syslinux32.efi"])) == "ia32"
    for name in ("efi/syslinux64.efi", "shimx64.efi", "grubx64.efi"):
        assert images.pe_machine(head(REAL[name])) == "x64"
    assert images.is_signed(head(REAL["efi/syslinux64.efi"])) is False
    assert images.pe_security_directory(head(REAL["efi/syslinux64.efi"])) == (0, 0)
    assert images.is_signed(head(REAL["shimx64.efi"])) is True
    assert images.is_signed(head(REAL["grubx64.efi"])) is True
    assert images.pe_security_directory(b"MZ" + bytes(100)) is None  # cut short, no crash


def test_right_files_for_each_architecture_pass(root, capsys) -> None:
    code, out = run(capsys, conf(
        root,
        'pxe-service=X86PC,"BIOS",pxelinux',
        'pxe-service=X86-64_EFI,"UEFI",shimx64.efi',
        'pxe-service=BC_EFI,"UEFI",efi/syslinux64.efi',
        'pxe-service=IA32_EFI,"UEFI 32",efi/syslinux32.efi',
        'pxe-service=ARM64_EFI,"ARM64",efi/aa64.efi',
        proxy=False,
    ), "--secure-boot")  # fmt: skip
    assert code == 0, out
    # The unsigned ones warn (Secure Boot hint); signed shim does not.
    warned = [line for line in out.splitlines() if "Authenticode" in line]
    assert len(warned) == 3, out
    assert not any("file shimx64.efi has" in w for w in warned), out


@pytest.mark.parametrize(
    ("service", "words"),
    [
        (
            'pxe-service=X86-64_EFI,"UEFI",pxelinux.0',
            "pxelinux.0 is not a PE image (a BIOS NBP) but is offered to x64 UEFI clients",
        ),
        (
            'pxe-service=X86PC,"BIOS",shimx64.efi',
            "shimx64.efi is a UEFI program (PE, machine x64) offered to BIOS x86 clients",
        ),
        (
            'pxe-service=ARM64_EFI,"ARM",grubx64.efi',
            "grubx64.efi is a PE for machine x64, but ARM64 UEFI clients start only aa64 (0xAA64)",
        ),
        (
            'pxe-service=X86-64_EFI,"UEFI",efi/syslinux32.efi',
            "is a PE for machine ia32, but x64 UEFI clients start only x64 (0x8664)",
        ),
        (
            'pxe-service=IA32_EFI,"UEFI",efi/syslinux64.efi',
            "is a PE for machine x64, but IA32 UEFI clients start only ia32 (0x14C)",
        ),
    ],
)
def test_wrong_program_for_the_architecture_is_an_error(root, capsys, service, words) -> None:
    path = conf(root, service)
    code, out = run(capsys, path)
    assert code == 1, out
    line = next(x for x in out.splitlines() if words in x)
    assert line.startswith(f"{path}:4: error: ") and "; fix: offer " in line


def test_dhcp_boot_architecture_comes_from_its_tags(root, capsys) -> None:
    path = conf(
        root,
        "dhcp-match=set:efi64,option:client-arch,7",
        "dhcp-boot=tag:efi64,pxelinux.0",
        "dhcp-boot=tag:!efi64,pxelinux.0",
    )
    code, out = run(capsys, path)
    assert code == 1, out
    errors = [x for x in out.splitlines() if "not a PE image" in x]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:5: error: "), out
    # An untagged dhcp-boot may go to anyone: nothing is said about its machine.
    code, out = run(capsys, conf(root, "dhcp-boot=pxelinux.0"))
    assert code == 0 and "PE" not in out, out


def test_secure_boot_hint_from_the_command_line(root, capsys) -> None:
    path = conf(root, 'pxe-service=X86-64_EFI,"UEFI",efi/syslinux64.efi')
    code, out = run(capsys, path)
    assert code == 0 and "Authenticode" not in out, out  # no hint, no warning
    code, out = run(capsys, path, "--secure-boot")
    assert code == 0, out  # a warning: the configuration is still valid
    line = next(x for x in out.splitlines() if "Authenticode" in x)
    assert line.startswith(f"{path}:4: warning: pxe-service file efi/syslinux64.efi has no ")
    assert "fix: offer a signed chain: shimx64.efi (/usr/lib/shim/shimx64.efi.signed" in line
    assert "1 warning(s)" in out


def test_secure_boot_hint_from_the_toml_configuration(root, capsys) -> None:
    toml = root.parent / "pxelab.toml"
    toml.write_text(f"""secure_boot = true
[tftp]
root = "{root}"
[[service]]
csa = "X86-64_EFI"
text = "signed"
basename = "shimx64.efi"
[[service]]
csa = "X86-64_EFI"
text = "unsigned"
basename = "efi/syslinux64.efi"
""")
    code = main(["check", "--config", str(toml)])
    out = capsys.readouterr().out
    assert code == 0, out
    warned = [x for x in out.splitlines() if "Authenticode" in x]
    assert len(warned) == 1 and warned[0].startswith(f"{toml}:8: warning: "), out
    toml.write_text(toml.read_text().replace("secure_boot = true", "secure_boot = 'yes'"))
    assert main(["check", "--config", str(toml)]) == 1
    assert f"{toml}:1" in capsys.readouterr().out


def test_the_secure_boot_scenario_config(capsys) -> None:
    """scenarios/secure-boot's proxy offers syslinux.efi unsigned and shim behind a proxy, on
    purpose: check predicts both outcomes the scenario asserts."""
    import os

    src = Path(__file__).resolve().parents[2] / "scenarios" / "secure-boot" / "dnsmasq.conf"
    base = Path(tempfile.mkdtemp(prefix="pxelab-nbp-"))
    try:
        base.chmod(0o755)
        from pxelab.lab.services import tftptree

        tree = tftptree.build_tree(
            base / "tftp", bios=False, efi64=True, shim=True, config_dir=src.parent
        )
        conf = tftptree.write_dnsmasq_conf(src, base / "dnsmasq.conf", tree)
        os.chmod(conf, 0o644)
        code, out = run(capsys, conf, "--secure-boot")
    finally:
        shutil.rmtree(base)
    assert code == 1, out
    warned = [x for x in out.splitlines() if "Authenticode" in x]
    assert len(warned) == 1 and "efi64/syslinux.efi" in warned[0], out
    errors = [x for x in out.splitlines() if ": error: " in x]
    assert len(errors) == 1 and "shimx64.efi is shim, handed out by a proxyDHCP" in errors[0]


def test_shim_with_grub_behind_a_proxy_is_an_error(root, capsys) -> None:
    """What scenarios/secure-boot shows: shim accepted, GRUB started, then `grub>`."""
    path = conf(root, 'pxe-service=X86-64_EFI,"signed",shimx64.efi')
    code, out = run(capsys, path)
    assert code == 1, out
    line = next(x for x in out.splitlines() if "is shim" in x)
    assert line.startswith(f"{path}:4: error: shimx64.efi is shim, handed out by a proxyDHCP")
    assert "loads grubx64.efi (GRUB)" in line and "pxe_mode->dhcp_ack" in line
    assert "fix: let the router give the boot file and next-server" in line
    # The router (or dnsmasq as the DHCP server) naming shim itself: no such error.
    code, out = run(capsys, conf(root, "dhcp-boot=shimx64.efi", proxy=False))
    assert code == 0 and "is shim" not in out, out
    # Behind a proxy with no GRUB beside it: shim's own problem, not this one.
    (root / "grubx64.efi").unlink()
    code, out = run(capsys, path)
    assert "is shim" not in out, out
