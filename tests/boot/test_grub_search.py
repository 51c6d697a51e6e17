"""GRUB's netboot file search (pxelab.boot.grub_search) and the facts it rests on."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pxelab.boot import grub_search, images
from pxelab.boot.grub_search import DEBIAN_12_X64, UPSTREAM_X64, config_search

MAC = "52:54:00:15:00:01"
DEBIAN_IMAGE = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")


def test_debian_12_reads_the_four_lists_then_grub_cfg_and_no_client_names():
    # Seen in the lab (tests/vm/test_grub_boot.py), file for file.
    assert config_search(MAC, "192.168.15.50", "00112233-4455-6677-8899-aabbccddeeff") == [
        "grub/x86_64-efi/command.lst",
        "grub/x86_64-efi/fs.lst",
        "grub/x86_64-efi/crypto.lst",
        "grub/x86_64-efi/terminal.lst",
        "grub/grub.cfg",
    ]


def test_upstream_searches_uuid_mac_then_ip_shortened_eight_times():
    names = config_search(
        MAC, "192.168.10.21", "00112233-4455-6677-8899-AABBCCDDEEFF", build=UPSTREAM_X64
    )
    assert names[:4] == [f"boot/grub/x86_64-efi/{n}" for n in grub_search.LISTS]
    assert names[4:] == [
        "boot/grub/grub.cfg-00112233-4455-6677-8899-aabbccddeeff",
        "boot/grub/grub.cfg-01-52-54-00-15-00-01",
        "boot/grub/grub.cfg-C0A80A15",
        "boot/grub/grub.cfg-C0A80A1",
        "boot/grub/grub.cfg-C0A80A",
        "boot/grub/grub.cfg-C0A80",
        "boot/grub/grub.cfg-C0A8",
        "boot/grub/grub.cfg-C0A",
        "boot/grub/grub.cfg-C0",
        "boot/grub/grub.cfg-C",
        "boot/grub/grub.cfg",
    ]


def test_upstream_without_a_uuid_in_the_ack_starts_at_the_mac():
    names = config_search(MAC, "10.0.0.1", None, build=UPSTREAM_X64)
    assert names[4] == "boot/grub/grub.cfg-01-52-54-00-15-00-01"


def test_grub_takes_an_all_zero_uuid_where_pxelinux_skips_it():
    assert grub_search.uuid_name(bytes(16)) == "00000000-0000-0000-0000-000000000000"


def test_walk_stops_at_the_first_config_found_but_always_asks_for_the_lists():
    names = config_search(MAC, "10.0.0.1", None, build=UPSTREAM_X64)
    have = {"boot/grub/grub.cfg-0A"}
    asked, found = grub_search.walk(names, have.__contains__)
    assert found == "boot/grub/grub.cfg-0A"
    assert asked[-1] == found and asked[:4] == names[:4]
    assert grub_search.walk(names, lambda n: False) == (names, None)


@given(st.binary(min_size=6, max_size=6), st.integers(0, 2**32 - 1))
def test_every_search_ends_at_grub_cfg_and_names_are_unique(mac, ip):
    import ipaddress

    for build in (DEBIAN_12_X64, UPSTREAM_X64):
        names = config_search(mac, ipaddress.IPv4Address(ip), None, build=build)
        assert names[-1].endswith("/grub.cfg")
        assert len(set(names)) == len(names)


def test_the_debian_image_embeds_prefix_grub_and_runs_normal_with_a_file():
    """Why Debian's GRUB never searches: its early config gives `normal` an argument."""
    if not DEBIAN_IMAGE.exists():
        pytest.fail(f"{DEBIAN_IMAGE} missing: apt-get install grub-efi-amd64-signed")
    data = DEBIAN_IMAGE.read_bytes()
    assert images.pe_machine(data) == "x64"
    mods = images.grub_modules(data)
    assert mods is not None
    assert mods.prefix == DEBIAN_12_X64.prefix
    assert mods.config is not None and mods.config.split() == ["normal", "(memdisk)/grub.cfg"]
    assert mods.memdisk is not None and mods.memdisk[510:512] == b"\x55\xaa"  # a FAT image
    assert DEBIAN_12_X64.searches_client_names is False


def test_known_images():
    assert grub_search.build_for("efi/grubx64.efi") is DEBIAN_12_X64
    assert grub_search.is_grub_image("core.efi")
    assert not grub_search.is_grub_image("pxelinux.0")


def test_the_captured_lab_log_is_the_search_order():
    """The dnsmasq log of OVMF + Debian's GRUB in the lab (tests/vm/test_grub_boot.py), kept so
    a scripted GRUB client can be held to it without a VM."""
    log = Path(__file__).parents[1] / "vm/data/ovmf-debian-grub-full-dhcp.dnsmasq.log"
    names = [
        line.split()[5].removeprefix("/srv/tftp/")
        for line in log.read_text().splitlines()
        if "dnsmasq-tftp" in line and line.split()[4] in ("sent", "file")
    ]
    # EDK2 asks for the NBP twice (tsize probe, ERROR 8, then the transfer): quirk 6.
    assert names[:2] == ["grubx64.efi", "grubx64.efi"]
    assert names[2:] == config_search(MAC, "192.168.15.50")
