"""`pxelab check` on the seed's tree: passes whole, and names each file when one is missing."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from pxelab.cli import main
from pxelab.lab.services.tftptree import seed_tree
from tests.conftest import require_tool

WYSE = [
    "--mac",
    "00:80:64:71:ab:0a",
    "--ip",
    "192.168.10.21",
    "--uuid",
    "597c5400-922f-11db-9fff-008064667faa",
]


def run_check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["check", *args])
    out = capsys.readouterr().out
    return code, out.splitlines()


def test_the_seed_tree_passes_with_the_43_6_warning(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, root = seed_lab
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 0, lines
    assert len(lines) == 2
    warning, ok = lines
    assert warning.startswith(f"{conf}:21: warning: dnsmasq reads '2b' as the decimal 2")
    assert "after the 43.6 = 3 the server computes itself" in warning
    assert "fix: delete the line" in warning
    assert ok.startswith(f"OK: {conf}: TFTP root {root} (readable by nobody)")
    assert "menu 'PXE Boot Menu' with 3 entries, modules menu.c32 libutil.c32" in ok


# file removed -> (line of the finding, words it must hold)
MISSING = {
    "pxelinux.0": (
        "dnsmasq.conf:18",
        "dhcp-boot file pxelinux.0 is missing under the TFTP root",
        "also named at {conf}:29",
        "fix: cp /usr/lib/PXELINUX/pxelinux.0 {root}/pxelinux.0",
    ),
    "ldlinux.c32": (
        "dnsmasq.conf:18",
        "ldlinux.c32 is missing beside pxelinux.0",
        "fix: cp /usr/lib/syslinux/modules/bios/ldlinux.c32 {root}/ldlinux.c32",
    ),
    "pxelinux.cfg/default": (
        "dnsmasq.conf:18",
        "pxelinux.cfg/default is missing",
        "'Unable to locate configuration file'",
        "fix: create {root}/pxelinux.cfg/default",
    ),
    "menu.c32": (
        "pxelinux.cfg/default:2",
        "menu.c32 (DEFAULT menu.c32) is missing",
        "fix: cp /usr/lib/syslinux/modules/bios/menu.c32 {root}/",
    ),
    "libutil.c32": (
        "pxelinux.cfg/default:2",
        "libutil.c32 is missing: menu.c32 needs it",
        "fix: cp /usr/lib/syslinux/modules/bios/libutil.c32 {root}/",
    ),
    "images/tc/vmlinuz": (
        "pxelinux.cfg/default:9",
        "label tc476: kernel images/tc/vmlinuz is missing",
        "also named at {root}/pxelinux.cfg/default:14",
    ),
    "images/wyseSx0/vmlinuz": (
        "pxelinux.cfg/default:19",
        "label tc476_wyse_test: kernel images/wyseSx0/vmlinuz is missing",
    ),
    "images/tc/core.gz": (
        "pxelinux.cfg/default:10",
        "label tc476: initrd images/tc/core.gz is missing",
        "also named at {root}/pxelinux.cfg/default:15, {root}/pxelinux.cfg/default:20",
    ),
}


@pytest.mark.parametrize("name", sorted(MISSING))
def test_each_missing_file_fails_with_its_message(
    name: str, seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, root = seed_lab
    (root / name).unlink()
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 1
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 1, lines
    where, *words = MISSING[name]
    assert errors[0].split(": error: ")[0].endswith(where)
    for w in words:
        assert w.format(conf=conf, root=root) in errors[0], errors[0]
    assert lines[-1] == f"{conf}: 1 error(s), 1 warning(s): clients will not boot"


def test_libcom32_is_not_needed_by_menu_c32(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # syslinux 6.04's menu.c32 names only libutil.c32 in DT_NEEDED (tests/boot/test_modules)
    conf, root = seed_lab
    (root / "libcom32.c32").unlink()
    code, _ = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 0


def test_vesamenu_needs_libcom32(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, root = seed_lab
    (root / "libcom32.c32").unlink()
    default = root / "pxelinux.cfg/default"
    default.write_text("ui vesamenu.c32\n" + default.read_text())
    (root / "vesamenu.c32").write_bytes(
        Path("/usr/lib/syslinux/modules/bios/vesamenu.c32").read_bytes()
    )
    (root / "vesamenu.c32").chmod(0o644)
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 1
    (error,) = [line for line in lines if ": error: " in line]
    assert error.startswith(
        f"{root}/pxelinux.cfg/default:1: error: libcom32.c32 is missing: vesamenu.c32 needs it"
    )


def test_pxe_service_basename_gets_dot_zero(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, root = seed_lab
    text = conf.read_text().replace("dhcp-boot=pxelinux.0", "dhcp-boot=other.0")
    conf.write_text(text)
    (root / "other.0").write_bytes(b"nbp")
    (root / "other.0").chmod(0o644)
    (root / "pxelinux.0").rename(root / "pxelinux")  # the basename exists, the served file not
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 1
    (error,) = [line for line in lines if ": error: " in line]
    assert error.startswith(f"{conf}:29: error: pxe-service file pxelinux.0 is missing")
    assert "dnsmasq adds '.0' to the basename 'pxelinux'" in error


def test_missing_tftp_root(seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    conf, root = seed_lab
    conf.write_text(conf.read_text().replace(str(root), str(root) + "-gone"))
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 1
    (error,) = [line for line in lines if ": error: " in line]
    assert error.startswith(f"{conf}:15: error: TFTP root {root}-gone does not exist")


def test_root_unreadable_by_nobody_is_named(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, root = seed_lab
    images = root / "images"
    root.chmod(0o700)
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 1
    (error,) = [line for line in lines if ": error: " in line]
    assert error == (
        f"{conf}:15: error: TFTP root {root} is not readable by user nobody: directory {root} "
        "does not let that user in (mode 0700); the server drops to nobody and every request "
        f"fails; fix: chmod o+x {root}"
    )
    # a file the user cannot read is named too
    root.chmod(0o755)
    (images / "tc/core.gz").chmod(0o600)
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    (error,) = [line for line in lines if ": error: " in line]
    assert f"{images}/tc/core.gz is not readable by user nobody (mode 0600)" in error
    # dnsmasq left running as root still refuses files that are not world-readable (tftp.c)
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf), "--user", "root")
    assert code == 1
    assert any("core.gz is not readable by user root (mode 0600)" in line for line in lines)


def test_missing_config_file_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "dnsmasq.conf"
    code, lines = run_check(capsys, "--dnsmasq-conf", str(missing))
    assert code == 1
    assert lines[0].startswith(f"{missing}: error: configuration file does not exist")


def test_dnsmasq_test_on_a_missing_file(tmp_path: Path) -> None:
    """What `dnsmasq --test` does instead (2.90): an explicit -C path that does not exist is
    refused, but the default /etc/dnsmasq.conf may be missing and it still says OK (see the
    root test below): the seed's complaint."""
    dnsmasq = require_tool("dnsmasq")
    res = subprocess.run(
        [dnsmasq, "--test", "-C", str(tmp_path / "nope.conf")], capture_output=True, text=True
    )
    assert res.returncode != 0
    assert "cannot read" in res.stderr and "No such file or directory" in res.stderr


@pytest.mark.lab
def test_dnsmasq_test_says_ok_without_any_config_file() -> None:
    # a private mount namespace with an empty /etc: dnsmasq finds no /etc/dnsmasq.conf
    dnsmasq = require_tool("dnsmasq")
    unshare = require_tool("unshare")
    res = subprocess.run(
        [unshare, "-m", "sh", "-c", f"mount -t tmpfs none /etc && exec {dnsmasq} --test"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0
    assert "syntax check OK" in res.stdout + res.stderr


def test_client_chain_for_the_seeds_wyse(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, root = seed_lab
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf), *WYSE)
    assert code == 0
    chain = lines[lines.index("client chain:") + 1 : -1]
    # the server's own reply policy answers the DISCOVER, then the 4011 boot-server request
    assert chain[0].startswith("  offer (pxelab.boot.policy, for a PXE ROM's DISCOVER): ")
    assert "boot file pxelinux.0 from 192.168.10.20" in chain[0]
    assert "43.6 = 3" in chain[0]
    assert "boot-server request to port 4011 -> pxelinux.0" in chain[0]
    assert "'Boot from network' (type 32768 -> pxelinux.0)" in chain[0]
    assert "'Boot from local hard disk' (local disk)" in chain[0]
    assert "prompt 'Press F8 for boot menu' (3 s, then the first item)" in chain[0]
    size = (root / "pxelinux.0").stat().st_size
    assert chain[1:] == [
        f"  boot file: pxelinux.0 -> {root}/pxelinux.0 ({size} bytes)",
        "    ldlinux.c32: found",
        "  PXELINUX config search, in order:",
        "    pxelinux.cfg/597c5400-922f-11db-9fff-008064667faa: not found",
        "    pxelinux.cfg/01-00-80-64-71-ab-0a: not found",
        "    pxelinux.cfg/C0A80A15: not found",
        "    pxelinux.cfg/C0A80A1: not found",
        "    pxelinux.cfg/C0A80A: not found",
        "    pxelinux.cfg/C0A80: not found",
        "    pxelinux.cfg/C0A8: not found",
        "    pxelinux.cfg/C0A: not found",
        "    pxelinux.cfg/C0: not found",
        "    pxelinux.cfg/C: not found",
        "    pxelinux.cfg/default: found",
        "  runs: menu.c32 (loads menu.c32, libutil.c32)",
        "  menu: 'PXE Boot Menu', default tc476",
        "    * tc476: Standard Tiny Core 4.7.6",
        "      tc476_wyse: Standard Tiny Core on Wyse Sx0",
        "      tc476_wyse_test: Tiny Core on Wyse Sx0 (Specific)",
    ]


def test_client_chain_stops_at_the_first_config_found(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, root = seed_lab
    (root / "pxelinux.cfg/C0A80A").write_text(
        "default wyse\nlabel wyse\n menu label ^Wyse only\n kernel images/wyseSx0/vmlinuz\n"
    )
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf), *WYSE)
    assert code == 0
    chain = [line.strip() for line in lines[lines.index("client chain:") + 1 : -1]]
    assert chain[chain.index("pxelinux.cfg/C0A80A1: not found") + 1] == "pxelinux.cfg/C0A80A: found"
    assert "pxelinux.cfg/default: found" not in chain
    assert chain[-2:] == ["menu: '', default wyse", "* wyse: Wyse only"]


def test_uefi_client_of_the_seed_gets_a_bios_program(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, _ = seed_lab
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf), *WYSE, "--arch", "7")
    assert code == 1
    (error,) = [line for line in lines if ": error: " in line]
    assert error.startswith(f"{conf}:29: error: a UEFI client (arch 7) is handed pxelinux.0")
    chain = lines[lines.index("client chain:") + 1 : -1]
    assert "UEFI: no 43 on port 67; its request to port 4011 gets pxelinux.0" in chain[0]
    assert chain[-1].startswith("  PROBLEM: arch 7 is UEFI but pxelinux.0 is a BIOS NBP")


def test_efi64_tree_passes(capsys: pytest.CaptureFixture[str]) -> None:
    base = Path(tempfile.mkdtemp(prefix="pxelab-check-"))
    try:
        base.chmod(0o755)
        root = seed_tree(base / "tftpboot", efi64=True)
        # seed_tree puts the images beside syslinux.efi too; without them, check must say why
        shutil.rmtree(root / "efi64/images")
        conf = base / "dnsmasq.conf"
        conf.write_text(
            f"port=0\nenable-tftp\ntftp-root={root}\ndhcp-range=192.168.10.20,proxy\n"
            "dhcp-match=set:efi,option:client-arch,7\n"
            "dhcp-boot=tag:efi,efi64/syslinux.efi\ndhcp-boot=pxelinux.0\n"
        )
        # syslinux.efi's working directory is efi64/: the menu's relative kernel names
        # (images/tc/vmlinuz) are looked up under efi64/, not beside pxelinux.0's
        code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
        errors = [line for line in lines if ": error: " in line]
        assert len(errors) == 3
        assert f"kernel images/tc/vmlinuz is missing ({root}/efi64/images/tc/vmlinuz)" in errors[0]
        assert "write ::images/... for a path from the TFTP root" in errors[0]
        menu = root / "efi64/pxelinux.cfg/default"
        menu.write_text(
            menu.read_text().replace(" images/", " ::images/").replace("=images/", "=::images/")
        )
        code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
        assert code == 0, lines
        menu.write_text(menu.read_text().replace("::images/", "images/"))
        shutil.copytree(root / "images", root / "efi64/images")
        code, lines = run_check(capsys, "--dnsmasq-conf", str(conf), *WYSE, "--arch", "7")
        assert code == 0, lines
        assert any("efi64/syslinux.efi: efi64/pxelinux.cfg/default -> menu" in x for x in lines)
        chain = [x.strip() for x in lines[lines.index("client chain:") + 1 : -1]]
        assert "efi64/ldlinux.e64: found" in chain
        assert chain[chain.index("PXELINUX config search, in order:") + 1] == (
            "efi64/pxelinux.cfg/597c5400-922f-11db-9fff-008064667faa: not found"
        )
        assert "efi64/pxelinux.cfg/default: found" in chain
        (root / "efi64/ldlinux.e64").unlink()
        code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
        (error,) = [line for line in lines if ": error: " in line]
        assert error.startswith(
            f"{conf}:6: error: ldlinux.e64 is missing beside efi64/syslinux.efi"
        )
        assert "cp /usr/lib/syslinux/modules/efi64/ldlinux.e64" in error
    finally:
        shutil.rmtree(base, ignore_errors=True)


SEED_TOML = """\
log_dhcp = true
no_override = true

[tftp]
enabled = true
root = "{root}"

[[range]]
address = "192.168.10.20"

[[boot]]
file = "pxelinux.0"

[[prompt]]
text = "Press F8 for boot menu"
timeout = 3

[[service]]
csa = "x86PC"
text = "Boot from network"
basename = "pxelinux"

[[service]]
csa = "x86PC"
text = "Boot from local hard disk"
type = 0
"""


def test_toml_config_of_the_seed(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import pxelab.config.tomlconf  # noqa: F401  # our own module: an import error must fail
    _, root = seed_lab
    toml = root.parent / "seed.toml"
    toml.write_text(SEED_TOML.format(root=root))
    code, lines = run_check(capsys, "--config", str(toml), *WYSE)
    assert code == 0, lines
    assert lines[-1].startswith(f"OK: {toml}: TFTP root {root}")
    assert "    pxelinux.cfg/default: found" in lines
    (root / "ldlinux.c32").unlink()
    code, lines = run_check(capsys, "--config", str(toml))
    assert code == 1
    assert lines[0].startswith(f"{toml}:11: error: ldlinux.c32 is missing beside pxelinux.0")


def test_client_specific_configs_are_checked_and_misnamed_ones_named(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, root = seed_lab
    cfgdir = root / "pxelinux.cfg"
    (cfgdir / "01-00-80-64-71-ab-0a").write_text("default x\nlabel x\n kernel images/none\n")
    (cfgdir / "01-00-80-64-71-AB-0A").write_text("default menu.c32\n")
    (cfgdir / "192.168.10.21").write_text("default menu.c32\n")
    (cfgdir / "common.cfg").write_text("label extra\n")
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 1
    assert lines[1:-1] == [
        f"{cfgdir}/01-00-80-64-71-AB-0A: warning: PXELINUX never asks for 01-00-80-64-71-AB-0A: "
        "the client asks for 01-00-80-64-71-ab-0a (MAC in lower case with the 01- type, IP in "
        f"upper-case hex); fix: mv {cfgdir}/01-00-80-64-71-AB-0A {cfgdir}/01-00-80-64-71-ab-0a",
        f"{cfgdir}/01-00-80-64-71-ab-0a:3: error: label x: kernel images/none is missing "
        f"({root}/images/none); fix: put the kernel at {root}/images/none or correct the KERNEL "
        "line",
        f"{cfgdir}/192.168.10.21: warning: PXELINUX never asks for 192.168.10.21: the client asks "
        "for C0A80A15 (MAC in lower case with the 01- type, IP in upper-case hex); fix: mv "
        f"{cfgdir}/192.168.10.21 {cfgdir}/C0A80A15",
    ]
    (cfgdir / "01-00-80-64-71-ab-0a").write_text(
        "default tc\nlabel tc\n kernel images/tc/vmlinuz\n"
    )
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 0
    assert lines[-1].endswith("1 client-specific config(s); 3 warning(s)")


def test_bad_identity_is_a_usage_error(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, _ = seed_lab
    assert main(["check", "--dnsmasq-conf", str(conf), "--uuid", "not-a-uuid"]) == 2
    assert "not a UUID" in capsys.readouterr().err
    assert main(["check", "--dnsmasq-conf", str(conf), "--mac", "zz"]) == 2
    assert "not a hardware address" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["check", "--mac", "00:80:64:71:ab:0a"])  # neither --config nor --dnsmasq-conf
    assert exc.value.code == 2


def test_the_configured_user_is_the_one_that_must_read(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, root = seed_lab
    (root / "menu.c32").chmod(0o640)  # root:root, group-readable only
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 1
    assert any("menu.c32 is not readable by user nobody (mode 0640)" in x for x in lines)
    conf.write_text(conf.read_text() + "user=root\n")
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    # dnsmasq that stays root still wants world-readable files
    assert any("menu.c32 is not readable by user root (mode 0640)" in x for x in lines)
    assert not any("user: ignored" in x for x in lines)
    (root / "menu.c32").chmod(0o644)
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 0 and "(readable by root)" in lines[-1]


def test_modules_found_along_path_and_urls_left_alone(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, root = seed_lab
    (root / "modules").mkdir()
    for lib in ("menu.c32", "libutil.c32"):
        (root / lib).rename(root / "modules" / lib)
    default = root / "pxelinux.cfg/default"
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 1  # menu.c32 is no longer beside pxelinux.0
    default.write_text(
        "path modules\n"
        + default.read_text()
        + "label web\n kernel http://10.0.0.1/vmlinuz\n append initrd=http://10.0.0.1/i.gz\n"
    )
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 0, lines
    assert lines[-1].endswith("2 URL(s) not checked (fetched over HTTP); 1 warning(s)")


def test_tftp_off_or_without_root(
    seed_lab: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, root = seed_lab
    text = conf.read_text()
    conf.write_text(text.replace("enable-tftp\n", "").replace(f"tftp-root={root}\n", ""))
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 0
    assert any("TFTP is not enabled here" in x for x in lines)
    conf.write_text(text.replace(f"tftp-root={root}\n", ""))
    code, lines = run_check(capsys, "--dnsmasq-conf", str(conf))
    assert code == 1
    (error,) = [x for x in lines if ": error: " in x]
    assert error.startswith(f"{conf}:12: error: TFTP is enabled without tftp-root")
