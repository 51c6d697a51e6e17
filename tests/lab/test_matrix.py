"""`pxelab lab --dnsmasq-conf`: the seed's own config against the clients, a matrix, JUnit, and
the run saved as scenarios that pass when run back. Real labs, real pxelab proxy."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pxelab.lab.report.junit import junit_tree
from pxelab.lab.report.results import ClientResult, Result
from pxelab.lab.scenario import matrix
from pxelab.lab.scenario.model import load
from pxelab.lab.services.tftptree import seed_tree

REPO = Path(__file__).resolve().parents[2]
SEED_CONF = REPO / "scenarios" / "seed-tinycore" / "dnsmasq.conf"
MENU = ["Standard Tiny Core 4.7.6", "Standard Tiny Core on Wyse Sx0",
        "Tiny Core on Wyse Sx0 (Specific)"]  # fmt: skip


def test_clients_option_names_profiles_and_kinds() -> None:
    chosen = matrix.subjects("ipxe,vm:pc-bios")
    assert [s.label for s in chosen] == ["scripted:ipxe", "vm:pc-bios"]
    kinds = {s.kind for s in matrix.subjects("vm")}
    assert kinds == {"vm"}
    with pytest.raises(ValueError, match=r"no client 'nosuch'.*scripted:ipxe"):
        matrix.subjects("nosuch")


def test_generated_scenarios_validate(tmp_path: Path) -> None:
    for i, subject in enumerate(matrix.subjects("ipxe,vm:pc-bios"), start=1):
        folder = tmp_path / subject.label.replace(":", "-")
        folder.mkdir()
        expect = {"menu": {"title": "PXE Boot Menu", "entries": MENU}, "files": ["pxelinux.0"]}
        (folder / "scenario.toml").write_text(matrix.scenario_text(
            subject, conf=SEED_CONF, config=None, tftp_root=tmp_path, proxy="pxelab",
            index=i, expectations=expect))  # fmt: skip
        scn = load(folder / "scenario.toml")
        assert str(scn.proxy.address.ip) == "192.168.10.20"  # the seed's dhcp-range proxy
        assert scn.clients[0].profile == subject.profile
        assert scn.clients[0].steps[0].value["entries"] == MENU
        assert scn.expect.tftp_requested == ("pxelinux.0",)


def test_junit_blames_the_client_the_failure_names() -> None:
    failed = Result("two", "two.toml", False, "c1 broke", clients=[
        ClientResult("c0", "scripted", True), ClientResult("c1", "vm", False, "no menu"),
    ], failure={"where": "client c1, steps[0] expect_menu", "expected": "a menu",
                "actual": "no menu"})  # fmt: skip
    ok = Result("one", "one.toml", True, clients=[ClientResult("c0", "scripted", True)])
    root = junit_tree([failed, ok]).getroot()
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert cases[("two", "c1 (vm)")].find("failure") is not None
    assert "failed at: client c1" in cases[("two", "c1 (vm)")].find("failure").text
    assert cases[("two", "c0 (scripted)")].find("failure") is None
    assert cases[("one", "c0 (scripted)")].find("failure") is None
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert (suites["two"].get("tests"), suites["two"].get("failures")) == ("2", "1")


def _lab(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pxelab", "lab", *map(str, args)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip


@pytest.mark.lab
def test_seed_config_matrix_saves_a_scenario_that_passes(tmp_path: Path) -> None:
    tree = seed_tree(tmp_path / "tree")
    saved, junit = tmp_path / "saved", tmp_path / "junit.xml"
    run = _lab("--dnsmasq-conf", SEED_CONF, "--tftp-root", tree,
               "--clients", "ipxe,edk2-uefi-x64", "-j", "2",
               "--save-scenario", saved, "--junit", junit)  # fmt: skip
    out = run.stdout
    assert run.returncode == 1, out + run.stderr  # the seed has no EFI boot file
    assert out.startswith("pxelab check:")
    rows = {line.split()[0]: line for line in out.splitlines()
            if line.startswith(("scripted:", "vm:"))}  # fmt: skip
    assert "menu" in rows["scripted:ipxe"].split()[1]
    assert " | ".join(MENU) in rows["scripted:ipxe"]
    assert rows["scripted:edk2-uefi-x64"].split()[1] == "FAILED"
    assert "not an EFI image" in rows["scripted:edk2-uefi-x64"]
    assert "1 of 2 clients reached a menu or a boot" in out
    cases = {c.get("classname"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["scripted-edk2-uefi-x64"].find("failure") is not None
    assert cases["scripted-ipxe"].find("failure") is None
    # Only the client that got somewhere is saved, and it holds when run back.
    assert sorted(p.name for p in saved.iterdir()) == ["scripted-ipxe"]
    back = _lab(saved)
    assert back.returncode == 0, back.stdout + back.stderr
    assert "1 of 1 passed" in back.stdout


@pytest.mark.lab
def test_missing_menu_c32_is_named_in_the_matrix(tmp_path: Path) -> None:
    tree = seed_tree(tmp_path / "tree")
    (tree / "menu.c32").unlink()
    run = _lab("--dnsmasq-conf", SEED_CONF, "--tftp-root", tree,
               "--clients", "ipxe,needs-option60,uuid-zero", "-j", "2")  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("scripted:")]
    assert len(rows) == 3, run.stdout
    for line in rows:
        assert "FAILED" in line and "menu.c32" in line, line


def test_bad_input_exits_2(tmp_path: Path) -> None:
    run = _lab("--dnsmasq-conf", tmp_path / "nope.conf")
    assert run.returncode == 2
    assert "nope.conf: no such file" in run.stderr
