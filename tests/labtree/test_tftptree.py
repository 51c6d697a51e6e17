from pathlib import Path

from pxelab.lab.services import tftptree


def test_seed_tree_has_pxelinux_modules_menu_and_images(tmp_path: Path) -> None:
    root = tftptree.seed_tree(tmp_path / "tftpboot")
    for name in ("pxelinux.0", "ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32"):
        assert (root / name).stat().st_size > 0, name
    shipped = Path(tftptree.BIOS_FILES["pxelinux.0"]).read_bytes()
    assert (root / "pxelinux.0").read_bytes() == shipped
    menu = (root / "pxelinux.cfg/default").read_text()
    assert "menu title PXE Boot Menu" in menu
    assert menu.splitlines()[0] == "serial 0 115200"
    for image in tftptree.SEED_IMAGES:
        assert (root / image).read_bytes() == tftptree.placeholder(image)
    assert oct((root / "images").stat().st_mode & 0o777) == "0o755"


def test_efi64_tree(tmp_path: Path) -> None:
    root = tftptree.seed_tree(tmp_path / "t", efi64=True)
    assert (root / "efi64/syslinux.efi").exists()
    assert (root / "efi64/ldlinux.e64").exists()
    assert (root / "efi64/pxelinux.cfg/default").exists()
    for image in tftptree.SEED_IMAGES:
        assert (root / "efi64" / image).read_bytes() == (root / image).read_bytes()


def test_dnsmasq_conf_tftp_root_is_the_only_change(tmp_path: Path) -> None:
    src = tftptree.SEED_DIR / "dnsmasq.conf"
    out = tftptree.write_dnsmasq_conf(src, tmp_path / "d.conf", tmp_path / "root")
    before, after = src.read_text().splitlines(), out.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [("tftp-root=/home/tftpboot", f"tftp-root={tmp_path / 'root'}")]


def test_placeholder_is_deterministic_and_distinct() -> None:
    a = tftptree.placeholder("images/tc/vmlinuz")
    assert a == tftptree.placeholder("images/tc/vmlinuz")
    assert a != tftptree.placeholder("images/tc/core.gz")
    assert len(a) == 256 * 1024
