"""The runner, the report and the pytest plugin, on a real lab (namespaces, the pxelab router,
dnsmasq as the proxy, the scripted client): passing, failing with the screen, files written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pxelab.lab.report import html as report
from pxelab.lab.scenario.model import load
from pxelab.lab.scenario.runner import Result, run_scenario
from tests.conftest import require_tool

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "scenarios" / "seed-tinycore"

SCENARIO = """
description = "runner test"
timeout = 60

[router]
address = "192.168.10.1"
pool = "192.168.10.100-192.168.10.150"

[proxy]
implementation = "dnsmasq"
address = "192.168.10.20"
dnsmasq_conf = "{seed}/dnsmasq.conf"

[tftp]
source = "{seed}"

[[client]]
name = "probe"
profile = "ipxe"
mac = "52:54:00:00:99:01"

[[client.steps]]
expect_menu = {{ title = "{title}" }}

[expect]
tftp_requested = ["pxelinux.0", "ldlinux.c32", "pxelinux.cfg/default"]
"""


def make_scenario(root: Path, name: str, title: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "scenario.toml").write_text(textwrap.dedent(SCENARIO.format(seed=SEED, title=title)))
    return d


def namespaces(lab_id: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if f"pxelab-{lab_id}-" in line]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Result, Path]]:
    require_tool("dnsmasq")
    require_tool("tcpdump")
    base = tmp_path_factory.mktemp("runner")
    out = {}
    for name, title in (("good", "PXE Boot Menu"), ("wrong", "Not The Seed Menu")):
        scn = load(make_scenario(base / "scenarios", name, title))
        rep = base / "report" / name
        out[name] = (run_scenario(scn, report_dir=rep), rep)
    return out


@pytest.mark.lab
def test_scenario_passes_and_writes_the_report(runs: dict[str, tuple[Result, Path]]) -> None:
    result, rep = runs["good"]
    assert result.passed, result.failure_text()
    data = json.loads((rep / "result.json").read_text())
    assert data["scenario"] == "good" and data["passed"] is True and data["reason"] == ""
    assert data["time_to_menu_s"] > 0
    names = [p["name"] for p in data["phases"]]
    assert names[:3] == ["tree", "network", "services"] and "client probe" in names
    # the client's boot, cut by what the router and proxy saw of it
    for phase in ("firmware", "dhcp", "proxy", "nbp", "pxelinux"):
        assert f"probe {phase}" in names, names
    assert all(p["duration_s"] >= 0 and p["start_s"] >= 0 for p in data["phases"])
    assert "PXE Boot Menu" in (rep / "screen.txt").read_text()
    assert "pxelab probe" in (rep / "console.log").read_text()
    events = [json.loads(line) for line in (rep / "events.jsonl").read_text().splitlines()]
    assert any(e["service"] == "tftp" and e["event"] == "sent" for e in events)
    assert any(e["service"] == "router" for e in events)
    assert (rep / "capture.pcap").stat().st_size > 1000
    assert not (rep / "work").exists()


@pytest.mark.lab
def test_index_html_draws_timeline_and_ladder(runs: dict[str, tuple[Result, Path]]) -> None:
    results = [runs["good"][0], runs["wrong"][0]]
    index = report.write_index(runs["good"][1].parent, results)
    text = index.read_text()
    assert text.count("<svg") >= 4  # a timeline and a ladder per scenario
    assert "RRQ pxelinux.0" in text and "DISCOVER" in text and "OFFER" in text
    assert "1 of 2 scenarios passed" in text
    # readable from disk: nothing run, nothing fetched but the report's own pictures
    assert "<script" not in text and "<link" not in text
    sources = re.findall(r'src="([^"]*)"', text)
    assert sources, "no pictures of the clients"
    for src in sources:
        assert not src.startswith(("/", "file:", "http")), src
        assert (index.parent / src).is_file(), src


@pytest.mark.lab
def test_wrong_expectation_fails_showing_the_screen(runs: dict[str, tuple[Result, Path]]) -> None:
    result, rep = runs["wrong"]
    assert not result.passed
    text = result.failure_text()
    assert "client probe, steps[0] expect_menu" in text
    assert "expected:  menu with title 'Not The Seed Menu'" in text
    assert "actual:    title 'PXE Boot Menu'" in text
    # the rendered screen: the seed's menu as the client saw it
    assert "| > Standard Tiny Core 4.7.6" in text
    assert f"report:    {rep}" in text
    assert json.loads((rep / "result.json").read_text())["passed"] is False


@pytest.mark.lab
def test_nothing_left_behind(runs: dict[str, tuple[Result, Path]]) -> None:
    for result, _ in runs.values():
        assert result.lab_id
        assert namespaces(result.lab_id) == []
        ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        assert f"PXELAB_LAB={result.lab_id}" not in ps


@pytest.mark.lab
def test_pytest_plugin_runs_a_scenario_and_shows_the_screen(tmp_path: Path) -> None:
    require_tool("dnsmasq")
    make_scenario(tmp_path, "wrong", "Not The Seed Menu")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path),
         "--lab-report", str(tmp_path / "rep"), "--rootdir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "scenario wrong failed" in proc.stdout
    assert "expected:  menu with title 'Not The Seed Menu'" in proc.stdout
    assert "| > Standard Tiny Core 4.7.6" in proc.stdout
    assert f"report:    {tmp_path / 'rep' / 'wrong'}" in proc.stdout


@pytest.mark.lab
def test_cli_runs_in_parallel_prints_the_table_and_exits_1(tmp_path: Path) -> None:
    require_tool("dnsmasq")
    make_scenario(tmp_path / "s", "good", "PXE Boot Menu")
    make_scenario(tmp_path / "s", "wrong", "Not The Seed Menu")
    proc = subprocess.run(
        [sys.executable, "-m", "pxelab", "lab", str(tmp_path / "s"), "-j", "2", "--keep-going",
         "--report", str(tmp_path / "rep")],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "good: services" in out and "wrong: client probe" in out  # progress lines
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()
            if line.startswith(("good ", "wrong "))}  # fmt: skip
    assert rows == {"good": "passed", "wrong": "FAILED"}
    assert "1 of 2 passed" in out
    assert (tmp_path / "rep" / "index.html").exists()
    for name in ("good", "wrong"):
        data = json.loads((tmp_path / "rep" / name / "result.json").read_text())
        assert namespaces(data["lab_id"]) == []


@pytest.mark.lab
def test_expect_failure_holds_when_the_named_link_breaks(tmp_path: Path) -> None:
    require_tool("dnsmasq")
    text = SCENARIO.format(seed=SEED, title="x")
    # A tree without PXELINUX: the boot file is missing, and the client says so.
    source = f'[tftp]\nsource = "{SEED}"'
    text = text.replace(source, source + "\nbios = false")
    text = text.replace('expect_menu = { title = "x" }', 'expect_failure = "pxelinux.0 not found"')
    text = text.split("[expect]")[0] + '[expect]\ntftp_not_requested = ["ldlinux.c32"]\n'
    d = tmp_path / "missing-nbp"
    d.mkdir()
    (d / "scenario.toml").write_text(text)
    result = run_scenario(load(d))
    assert result.passed, result.failure_text()
    assert "tftp: boot file pxelinux.0 not found" in result.screen
