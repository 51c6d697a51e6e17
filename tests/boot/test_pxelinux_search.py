"""PXELINUX's config search order, checked against the seed's dnsmasq log."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pxelab.boot.pxelinux import classify_config_name, config_search, path_prefix, uuid_name
from tests.seed import (
    SEED,
    SEED_LOG_COPY,
    WYSE_IP,
    WYSE_MAC,
    WYSE_UUID,
    logged_names,
    seed_tftp_log,
)
from tests.seed import SEED_SEARCH as SEED_LOG_NAMES


def test_seed_wyse_tries_the_seeds_eleven_names_in_order() -> None:
    assert config_search(WYSE_MAC, WYSE_IP, WYSE_UUID) == SEED_LOG_NAMES


def test_seed_log_itself_matches() -> None:
    # The seed beside the checkout, else its committed log lines: this runs everywhere.
    src, lines = seed_tftp_log()
    assert config_search(WYSE_MAC, WYSE_IP, WYSE_UUID) == logged_names(lines), src


def test_committed_seed_log_copy_is_the_seeds_own() -> None:
    copy = [ln for ln in SEED_LOG_COPY.read_text().splitlines() if not ln.startswith("#")]
    assert logged_names(copy) == SEED_LOG_NAMES
    if SEED.is_file():  # where the seed is at hand, the copy must be exactly its lines
        assert seed_tftp_log()[1] == copy


def test_uuid_as_option_97_payload_and_bytes() -> None:
    raw = bytes.fromhex(WYSE_UUID.replace("-", ""))
    assert config_search(WYSE_MAC, WYSE_IP, raw) == SEED_LOG_NAMES
    assert config_search(WYSE_MAC, WYSE_IP, b"\x00" + raw) == SEED_LOG_NAMES
    # option 97 with a type other than 0 is ignored by PXELINUX
    assert config_search(WYSE_MAC, WYSE_IP, b"\x01" + raw) == SEED_LOG_NAMES[1:]


def test_uuid_bytes_are_never_swapped() -> None:
    # QEMU -uuid 597c5400-... reaches PXELINUX via iPXE, which swaps the first three fields
    # into option 97 (REFERENCE.md); PXELINUX prints the bytes it got in order.
    smbios = bytes.fromhex("00547c592f92db119fff008064667faa")
    assert uuid_name(smbios) == "00547c59-2f92-db11-9fff-008064667faa"


@pytest.mark.parametrize("uuid", [None, "00000000-0000-0000-0000-000000000000", b"\xff" * 16])
def test_missing_zero_or_ff_uuid_is_skipped(uuid: object) -> None:
    assert config_search(WYSE_MAC, WYSE_IP, uuid) == SEED_LOG_NAMES[1:]  # type: ignore[arg-type]


def test_uuid_validity_is_the_version_byte() -> None:
    # syslinux checks byte 6 only: 0x10..0xef is valid whatever the rest holds.
    version_only = "00000000-0000-1000-0000-000000000000"
    assert uuid_name(version_only) == version_only
    assert uuid_name("ffffffff-ffff-0fff-ffff-ffffffffffff") is None
    assert uuid_name("ffffffff-ffff-f0ff-ffff-ffffffffffff") is None
    assert uuid_name("597C5400-922F-11DB-9FFF-008064667FAA") == WYSE_UUID


def test_ip_shortened_to_one_digit() -> None:
    names = config_search("52:54:00:12:34:56", "10.0.2.15", None)
    assert names == [
        "pxelinux.cfg/01-52-54-00-12-34-56",
        "pxelinux.cfg/0A00020F",
        "pxelinux.cfg/0A00020",
        "pxelinux.cfg/0A0002",
        "pxelinux.cfg/0A000",
        "pxelinux.cfg/0A00",
        "pxelinux.cfg/0A0",
        "pxelinux.cfg/0A",
        "pxelinux.cfg/0",
        "pxelinux.cfg/default",
    ]


def test_option_209_is_tried_first_then_the_guesses() -> None:
    names = config_search(WYSE_MAC, WYSE_IP, WYSE_UUID, option209="menus/wyse.cfg")
    assert names == ["menus/wyse.cfg", *SEED_LOG_NAMES]
    # "::" makes it absolute from the TFTP root, like the prefix
    names = config_search(WYSE_MAC, WYSE_IP, None, option209="::cfg/x", boot_file="boot/pxelinux.0")
    assert names[0] == "cfg/x"
    assert names[1] == "boot/pxelinux.cfg/01-00-80-64-71-ab-0a"


def test_option_210_sets_the_prefix() -> None:
    names = config_search(WYSE_MAC, WYSE_IP, None, option210_prefix="wyse/")
    assert names[0] == "wyse/pxelinux.cfg/01-00-80-64-71-ab-0a"
    assert names[-1] == "wyse/pxelinux.cfg/default"
    names = config_search(WYSE_MAC, WYSE_IP, None, option209="a.cfg", option210_prefix="p/")
    assert names[:2] == ["p/a.cfg", "p/pxelinux.cfg/01-00-80-64-71-ab-0a"]
    # option 210 wins over the boot file's directory
    names = config_search(WYSE_MAC, WYSE_IP, None, boot_file="x/pxelinux.0", option210_prefix="")
    assert names[-1] == "pxelinux.cfg/default"


@pytest.mark.parametrize(
    ("boot_file", "prefix"),
    [
        ("pxelinux.0", ""),
        ("boot/x86/pxelinux.0", "boot/x86/"),
        ("/tftpboot/pxelinux.0", "/tftpboot/"),
        ("efi64/syslinux.efi", "efi64/"),
        # get_prefix stops at anything but [0-9A-Za-z.-]: '_' is a delimiter too
        ("boot/my_pxelinux.0", "boot/my_"),
        ("BOOT/PXELINUX.0", "BOOT/"),
    ],
)
def test_prefix_from_boot_file(boot_file: str, prefix: str) -> None:
    assert path_prefix(boot_file) == prefix
    assert config_search(WYSE_MAC, WYSE_IP, None, boot_file=boot_file)[-1] == (
        prefix + "pxelinux.cfg/default"
    )


def test_mac_forms_are_equivalent() -> None:
    for mac in ("00-80-64-71-AB-0A", "00806471ab0a", bytes.fromhex("00806471ab0a")):
        assert config_search(mac, WYSE_IP, WYSE_UUID) == SEED_LOG_NAMES
    with pytest.raises(ValueError):
        config_search("zz:80", WYSE_IP, None)


@pytest.mark.parametrize(
    ("name", "kind", "asked"),
    [
        ("default", "default", "default"),
        ("Default", "wrong", "default"),
        (WYSE_UUID, "uuid", WYSE_UUID),
        (WYSE_UUID.upper(), "wrong", WYSE_UUID),
        ("00000000-0000-0000-0000-000000000000", "wrong", None),
        ("01-00-80-64-71-ab-0a", "mac", "01-00-80-64-71-ab-0a"),
        ("01-00-80-64-71-AB-0A", "wrong", "01-00-80-64-71-ab-0a"),
        ("00-80-64-71-ab-0a", "wrong", "01-00-80-64-71-ab-0a"),
        ("00:80:64:71:AB:0A", "wrong", "01-00-80-64-71-ab-0a"),
        ("C0A80A15", "ip", "C0A80A15"),
        ("C0A", "ip", "C0A"),
        ("c0a80a15", "wrong", "C0A80A15"),
        ("192.168.10.21", "wrong", "C0A80A15"),
        ("menu.cfg", "other", None),
        ("cafe", "other", None),  # a word, not a mistyped address
    ],
)
def test_classify_config_names(name: str, kind: str, asked: str | None) -> None:
    assert classify_config_name(name) == (kind, asked)
    if kind in ("uuid", "mac", "ip", "default"):
        # every name called valid is one the seed's Wyse (or some client) really requests
        wyse = config_search(WYSE_MAC, WYSE_IP, WYSE_UUID)
        assert kind == "ip" or f"pxelinux.cfg/{name}" in wyse


@given(
    st.binary(min_size=6, max_size=6),
    st.integers(0, 2**32 - 1),
    st.one_of(st.none(), st.binary(min_size=16, max_size=16)),
    st.one_of(st.none(), st.text(alphabet="abc/.-_", max_size=12)),
)
def test_search_shape(mac: bytes, ip: int, uuid: bytes | None, prefix: str | None) -> None:
    names = config_search(mac, str(ipaddress.IPv4Address(ip)), uuid, option210_prefix=prefix)
    p = path_prefix("pxelinux.0", prefix)
    assert all(n.startswith(p + "pxelinux.cfg/") for n in names)
    tail = [n[len(p) + len("pxelinux.cfg/") :] for n in names]
    valid = uuid is not None and 0x10 <= uuid[6] < 0xF0
    assert len(tail) == 10 + valid and tail[-1] == "default"
    ips = tail[-9:-1]
    assert ips[0] == f"{ip:08X}" and all(ips[i + 1] == ips[i][:-1] for i in range(7))
    assert tail[-10] == "01-" + "-".join(f"{b:02x}" for b in mac)
