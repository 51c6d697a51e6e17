"""Scenario files: every mistake is reported with the file, the key and what is wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pxelab.lab.scenario.model import ScenarioError, load

GOOD = """
description = "test"
[proxy]
dnsmasq_conf = "dnsmasq.conf"
[[client]]
name = "c0"
profile = "ipxe"
[[client.steps]]
expect_menu = { title = "PXE Boot Menu" }
"""


def write(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "demo"
    d.mkdir(exist_ok=True)
    (d / "dnsmasq.conf").write_text("port=0\n")
    f = d / "scenario.toml"
    f.write_text(textwrap.dedent(text))
    return f


def error(tmp_path: Path, text: str) -> ScenarioError:
    f = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load(f)
    assert info.value.file == str(f.resolve()) or info.value.file == str(f)
    assert str(f.name) in str(info.value)
    return info.value


def test_minimal_scenario_loads_with_defaults(tmp_path: Path) -> None:
    scn = load(write(tmp_path, GOOD).parent)
    assert scn.name == "demo"
    assert str(scn.router.address) == "192.168.10.1/24"
    assert str(scn.proxy.address.ip) == "192.168.10.20"
    assert scn.clients[0].kind == "scripted"
    assert scn.clients[0].steps[0].action == "expect_menu"
    assert not scn.needs_qemu


@pytest.mark.parametrize(
    ("patch", "key", "message"),
    [
        ('[network]\nsubnet = "10.0.0.0/33"\n', "network.subnet", "not an IPv4 network"),
        ("[network]\nmtu = 100\n", "network.mtu", "outside 576-9000"),
        ("[network.impair]\nloss = 150.0\n", "network.impair.loss", "out of range"),
        ("[network.impair]\nreorder = 5\n", "network.impair.reorder", "set delay_ms"),
        ("[network]\nmtux = 1500\n", "network.mtux", "unknown key"),
        ('[router]\naddress = "10.0.0.1"\n', "router.address", "not inside network.subnet"),
        ('[router]\npool = "192.168.10.9"\n', "router.pool", "FIRST-LAST"),
        ('[router.static]\n"00:80:64" = "192.168.10.21"\n', "router.static.00:80:64",
         "not a MAC"),
        ('[router]\nimplementation = "isc"\n', "router.implementation", "not one of"),
        ("[expect]\ntftp_requested = [1]\n", "expect.tftp_requested[0]", "expected a string"),
        ('[tftp.guest]\n"vmlinuz" = "nope"\n', "tftp.guest.vmlinuz", "not one of"),
        ("timeout = true\n", "timeout", "got a boolean"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, patch: str, key: str, message: str) -> None:
    # Top-level keys must come before the first table in TOML.
    text = patch + GOOD if not patch.startswith("[") else GOOD.replace("[proxy]", patch + "[proxy]")
    err = error(tmp_path, text)
    assert err.key == key, str(err)
    assert message in err.message, str(err)
    assert str(err).startswith(err.file + ": " + key + ": ")


@pytest.mark.parametrize(
    ("step", "key", "message"),
    [
        ('select = "a"\nkey = "f8"', "client[0].steps[1]", "exactly one of"),
        ("timeout = 3", "client[0].steps[1]", "exactly one of"),
        ('key = "f8"', "client[0].steps[1].key", "need a VM client"),
        ('expect_menu = { titel = "x" }', "client[0].steps[1].expect_menu.titel", "unknown key"),
        ('wait_for = ""', "client[0].steps[1].wait_for", "must not be empty"),
        ("expect_local_boot = false", "client[0].steps[1].expect_local_boot", "= true"),
        ('wait_for = "x"\ntimeout = -1', "client[0].steps[1].timeout", "more than 0"),
    ],
)
def test_step_errors(tmp_path: Path, step: str, key: str, message: str) -> None:
    err = error(tmp_path, GOOD + f"[[client.steps]]\n{step}\n")
    assert err.key == key, str(err)
    assert message in err.message, str(err)


def test_client_errors(tmp_path: Path) -> None:
    err = error(tmp_path, GOOD.replace('profile = "ipxe"', 'profile = "no-such-rom"'))
    assert err.key == "client[0].profile" and "unknown scripted profile" in err.message
    err = error(tmp_path, GOOD.replace('name = "c0"', 'name = "rtr"'))
    assert err.key == "client[0].name" and "taken" in err.message
    err = error(tmp_path, GOOD.replace('name = "c0"', 'mac = "zz"'))
    assert err.key == "client[0].mac"
    err = error(tmp_path, GOOD.replace('name = "c0"\nprofile = "ipxe"', 'kind = "vm"\narch = 7'))
    assert err.key == "client[0].arch"
    err = error(tmp_path, GOOD.replace('name = "c0"', "attempts = 2"))
    assert err.key == "client[0].attempts" and "VM clients" in err.message
    err = error(tmp_path, GOOD.split("[[client]]")[0])
    assert err.key == "client" and "at least one" in err.message


def test_proxy_errors(tmp_path: Path) -> None:
    err = error(tmp_path, GOOD.replace('dnsmasq_conf = "dnsmasq.conf"', 'dnsmasq_conf = "x.conf"'))
    assert err.key == "proxy.dnsmasq_conf" and "no such file" in err.message
    err = error(tmp_path, GOOD.replace('dnsmasq_conf = "dnsmasq.conf"', ""))
    assert err.key == "proxy" and "dnsmasq_conf or config" in err.message
    err = error(tmp_path, GOOD.replace("[proxy]", '[proxy]\naddress = "192.168.10.1"'))
    assert err.key == "proxy.address" and "router already uses" in err.message


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    err = error(tmp_path, GOOD + "\n[[client]\n")
    assert "not valid TOML" in err.message and "line" in err.message
