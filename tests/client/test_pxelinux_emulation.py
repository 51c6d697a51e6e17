"""PXELINUX emulation beyond the seed: a per-MAC config, option 209 from the router's ACK,
INCLUDE, hidden entries, MENU DEFAULT, and booting a hidden label."""

from __future__ import annotations

import pytest

from tests.client.conftest import SEED_UUID, probe, pxe_segment

pytestmark = pytest.mark.lab

WYSE = """serial 0 115200
default menu.c32
prompt 0
menu title Wyse Sx0 boot
include common.cfg
label rescue
    menu label Rescue shell
    menu hide
    kernel images/tc/vmlinuz
    initrd images/tc/core.gz
    append rescue
"""
COMMON = """label tc476_wyse_test
    menu label Tiny Core on Wyse Sx0 (Specific)
    menu default
    kernel images/wyseSx0/vmlinuz
    append initrd=images/tc/core.gz pata_cs5536.msr=1
"""


def _check_wyse_menu(data: dict) -> None:
    menu = data["menu"]
    assert menu["title"] == "Wyse Sx0 boot"
    entries = {e["label"]: e for e in menu["entries"]}
    assert entries["rescue"]["hidden"] and not entries["tc476_wyse_test"]["hidden"]
    assert menu["default"] == "tc476_wyse_test"
    assert data["pxelinux"]["includes"] == [
        {"name": "common.cfg", "path": "common.cfg", "found": True}]


def test_per_mac_config_ends_the_search_and_include_is_fetched() -> None:
    files = {"pxelinux.cfg/01-00-80-64-71-ab-0a": WYSE, "common.cfg": COMMON}
    with pxe_segment(files=files) as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--uuid", SEED_UUID)
    assert rc == 0, data["failure"]
    assert data["pxelinux"]["search"] == [
        {"path": "pxelinux.cfg/597c5400-922f-11db-9fff-008064667faa", "found": False},
        {"path": "pxelinux.cfg/01-00-80-64-71-ab-0a", "found": True},
    ]
    _check_wyse_menu(data)
    menu_events = [e for e in data["timeline"] if e["phase"] == "menu"]
    assert len(menu_events) == 1 and data["menu_at"] == menu_events[0]["t"]


def test_option_209_from_the_router_is_tried_first() -> None:
    files = {"wyse.cfg": WYSE, "common.cfg": COMMON}
    with pxe_segment(files=files, router_extra='dhcp-option-force=209,"wyse.cfg"\n') as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--select", "rescue")
    assert rc == 0, data["failure"]
    assert data["pxelinux"]["search"] == [{"path": "wyse.cfg", "found": True}]
    _check_wyse_menu(data)
    sel = data["pxelinux"]["selected"]
    assert sel["label"] == "rescue" and sel["append"] == "rescue"
    assert [(f["role"], f["path"], f["size_ok"]) for f in sel["files"]] == [
        ("kernel", "images/tc/vmlinuz", True), ("initrd", "images/tc/core.gz", True)]


def test_missing_label_and_missing_kernel_are_named() -> None:
    with pxe_segment(drop=("images/wyseSx0/vmlinuz",)) as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--select", "tc476_wyse_test")
        rc2, data2 = probe(seg, "--profile", "ipxe", "--select", "nosuch")
    assert rc == 1 and data["failure"]["link"] == "pxelinux"
    assert data["failure"]["message"] == ("kernel images/wyseSx0/vmlinuz of label "
                                          "tc476_wyse_test not found on 192.168.10.20")
    assert data["menu"]["title"] == "PXE Boot Menu"  # the menu was reached before
    assert rc2 == 1 and "no label 'nosuch'" in data2["failure"]["message"]
