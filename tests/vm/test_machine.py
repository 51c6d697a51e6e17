"""Machine profiles in vm/: what they load to and the QEMU arguments they make."""

from __future__ import annotations

from pathlib import Path

import pytest

from pxelab.lab.machines.profile import (
    ProfileError,
    available_profiles,
    load_profile,
    parse_profile,
    pxelinux_uuid_name,
)


def test_the_three_profiles_load():
    assert {"pc-bios", "uefi-x64", "wyse-sx0"} <= set(available_profiles())
    for name in ("pc-bios", "uefi-x64", "wyse-sx0"):
        p = load_profile(name)
        assert p.name == name
        assert p.accelerator == "tcg"  # TCG unless a probe or the user says otherwise


def test_wyse_profile_is_the_geode_like_machine():
    p = load_profile("wyse-sx0")
    args = p.machine_args(accel="tcg")
    assert p.qemu == "qemu-system-i386"
    assert args[args.index("-m") + 1] == "128"
    cpu = args[args.index("-cpu") + 1]
    assert "vendor=Geode by NSC" in cpu and "family=5" in cpu and "model=5" in cpu
    assert "+fxsr" in cpu  # this iPXE hangs without it (REFERENCE.md)
    assert "-apic" in cpu and "+3dnow" in cpu and "+cmov" in cpu
    assert p.nic.mac.startswith("00:80:64:")
    nic = p.nic_args("net0")[1]
    assert nic.startswith("rtl8139,") and "pxe-rtl8139.rom" in nic
    # The UUID that makes PXELINUX ask for the seed's file name.
    assert pxelinux_uuid_name(p.uuid) == "597c5400-922f-11db-9fff-008064667faa"


def test_uefi_profile_needs_its_own_vars_copy(tmp_path):
    p = load_profile("uefi-x64")
    with pytest.raises(ValueError, match="own copy"):
        p.machine_args(accel="tcg")
    args = p.machine_args(accel="tcg", vars_file=tmp_path / "vars.fd")
    drives = [args[i + 1] for i, a in enumerate(args) if a == "-drive"]
    assert any("readonly=on" in d and "OVMF_CODE_4M.fd" in d for d in drives)
    assert any(str(tmp_path / "vars.fd") in d and "readonly" not in d for d in drives)
    assert args[args.index("-machine") + 1].startswith("q35,")


def test_pxelinux_uuid_name_swaps_the_first_three_fields():
    # Measured here: -uuid 597c5400-922f-... made PXELINUX ask for 00547c59-2f92-...
    assert (
        pxelinux_uuid_name("597c5400-922f-11db-9fff-008064667faa")
        == "00547c59-2f92-db11-9fff-008064667faa"
    )


def _base() -> dict:
    return {"name": "x", "qemu": "qemu-system-x86_64", "machine": "pc", "memory_mib": 64}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"accelerator": "hvf"}, "accelerator = 'hvf'"),
        ({"memory_mib": "lots"}, "memory_mib must be a int"),
        ({"nic": {"mac": "00:80:64"}}, "nic.mac = '00:80:64' is not a MAC"),
        ({"nic": {"romfile": "/nonexistent/pxe.rom"}}, "nic.romfile = /nonexistent/pxe.rom"),
        ({"firmware": {"type": "uefi"}}, "firmware.code is required"),
        ({"smbios": {"uuid": "not-a-uuid"}}, "smbios.uuid"),
        ({"colour": "blue"}, "unknown field(s) colour"),
        ({"console": {"encoding": "klingon"}}, "console.encoding"),
    ],
)
def test_profile_errors_name_the_file_and_the_field(change, message):
    data = {**_base(), **change}
    with pytest.raises(ProfileError) as info:
        parse_profile(data, source=Path("vm/broken.toml"))
    assert str(info.value).startswith("vm/broken.toml: ")
    assert message in str(info.value)


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ProfileError, match=r"known: .*pc-bios"):
        load_profile("amiga")


def test_with_mac_gives_a_second_vm_its_own_address():
    p = load_profile("pc-bios").with_mac("52:54:00:AA:BB:CC")
    assert "mac=52:54:00:aa:bb:cc" in p.nic_args("n")[1]


def test_with_uuid_overrides_or_clears_the_smbios_uuid():
    p = load_profile("wyse-sx0")
    other = p.with_uuid("597C5400-922F-11DB-9FFF-008064667FAA")
    assert other.machine_args(accel="tcg")[-1] == "597c5400-922f-11db-9fff-008064667faa"
    assert "-uuid" not in p.with_uuid("").machine_args(accel="tcg")
    with pytest.raises(ProfileError, match="not a UUID"):
        p.with_uuid("wyse")


def _fw_cfg(args: list[str]) -> dict[str, str]:
    pairs = [args[i + 1] for i, a in enumerate(args) if a == "-fw_cfg"]
    return {p.split(",")[0][5:]: p.split("string=")[1] for p in pairs}


def test_edk2_profile_runs_only_pxev4_and_has_no_option_rom(tmp_path):
    p = load_profile("uefi-x64-edk2")
    args = p.machine_args(accel="tcg", vars_file=tmp_path / "vars.fd")
    # PXEv6 would wait ~60 s for DHCPv6 after a failed PXEv4 (measured): off, with all of IPv6.
    assert _fw_cfg(args) == {
        "opt/org.tianocore/IPv4PXESupport": "y",
        "opt/org.tianocore/IPv6PXESupport": "n",
        "opt/org.tianocore/IPv4Support": "y",
        "opt/org.tianocore/IPv6Support": "n",
    }
    nic = p.nic_args("net0")[1]
    assert nic.startswith("virtio-net-pci,") and ",romfile=," in nic + ","
    assert "bootindex=1" in nic
    assert "smm=on" not in args[args.index("-machine") + 1]


def test_firmware_default_stacks_and_secure_boot_switches():
    data = {**_base(), "machine": "q35"}
    data["firmware"] = {
        "type": "uefi",
        "code": "/usr/share/OVMF/OVMF_CODE_4M.ms.fd",
        "vars": "/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
        "secure_boot": True,
    }
    p = parse_profile(data, source=Path("vm/sb.toml"))
    args = p.machine_args(accel="tcg", vars_file=Path("/tmp/v.fd"))
    assert "-fw_cfg" not in args  # no `network`: the firmware's own default
    assert args[args.index("-machine") + 1] == "q35,graphics=off,smm=on"
    assert "driver=cfi.pflash01,property=secure,value=on" in args
    with pytest.raises(ProfileError, match=r"firmware\.network: unknown stack"):
        parse_profile({**data, "firmware": {**data["firmware"], "network": ["pxe5"]}})


def test_arm64_profile_is_aavmf_on_virt_with_its_own_binary(tmp_path):
    p = load_profile("uefi-arm64")
    assert p.qemu == "qemu-system-aarch64" and p.cpu == "cortex-a57"
    args = p.machine_args(accel="tcg", vars_file=tmp_path / "vars.fd")
    # virt has no graphics= property (QEMU refuses it); its console is the PL011 alone.
    assert args[args.index("-machine") + 1] == "virt"
    assert f"if=pflash,format=raw,unit=1,file={tmp_path / 'vars.fd'}" in args
    assert "readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd" in " ".join(args)
    assert _fw_cfg(args)["opt/org.tianocore/IPv6PXESupport"] == "n"
    nic = p.nic_args("net0")[1]
    assert nic.startswith("virtio-net-pci,") and ",romfile=," in nic + ","
