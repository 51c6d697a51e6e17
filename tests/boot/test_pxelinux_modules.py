"""The module/library table against the modules Debian ships (DT_NEEDED, read with readelf)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from pxelab.boot.pxelinux import LIBRARIES, core_module, with_libraries
from tests.conftest import require_tool

MODULE_DIRS = [Path("/usr/lib/syslinux/modules/bios"), Path("/usr/lib/syslinux/modules/efi64")]


def needed(readelf: str, path: Path) -> tuple[str, ...]:
    out = subprocess.run([readelf, "-d", str(path)], capture_output=True, text=True).stdout
    return tuple(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=lambda d: d.name)
def test_table_matches_the_installed_modules(directory: Path) -> None:
    readelf = require_tool("readelf")
    if not directory.is_dir():
        pytest.fail(f"{directory} is missing: run `pxelab doctor --install`")
    seen = 0
    for path in sorted(directory.glob("*.c32")):
        if path.name not in LIBRARIES:
            continue
        assert needed(readelf, path) == LIBRARIES[path.name], path
        seen += 1
    assert seen >= 40
    bios = {p.name for p in MODULE_DIRS[0].glob("*.c32")}
    assert set(LIBRARIES) <= bios | {"ldlinux.c32"}


def test_menu_modules_and_their_libraries() -> None:
    assert with_libraries("menu.c32") == ["menu.c32", "libutil.c32"]
    assert with_libraries("vesamenu.c32") == ["vesamenu.c32", "libutil.c32", "libcom32.c32"]
    assert with_libraries("hdt.c32") == [
        "hdt.c32",
        "libutil.c32",
        "libgpl.c32",
        "libcom32.c32",
        "libmenu.c32",
    ]
    assert with_libraries("cmenu.c32") == [
        "cmenu.c32",
        "libmenu.c32",
        "libutil.c32",
        "libcom32.c32",
    ]
    assert with_libraries("modules/menu.c32") == ["modules/menu.c32", "libutil.c32"]
    assert with_libraries("thirdparty.c32") == ["thirdparty.c32"]


def test_core_module_beside_the_nbp() -> None:
    assert core_module("pxelinux.0") == "ldlinux.c32"
    assert core_module("boot/lpxelinux.0") == "ldlinux.c32"
    assert core_module("efi64/syslinux.efi") == "ldlinux.e64"
    assert core_module("syslinux.efi", arch=6) == "ldlinux.e32"
    assert core_module("ipxe.efi") is None
