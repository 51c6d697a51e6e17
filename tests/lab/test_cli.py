"""`pxelab lab` and `pytest` on scenario files without running a lab: listing, collection,
exit codes for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def pxelab(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pxelab", "lab", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd)  # fmt: skip


def test_list_shows_every_builtin_scenario() -> None:
    proc = pxelab("--list", "scenarios")
    assert proc.returncode == 0, proc.stderr
    listed = names(proc)
    folders = sorted(p.parent.name for p in (REPO / "scenarios").glob("*/scenario.toml"))
    assert listed == folders


def names(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def test_shards_split_the_list_without_overlap() -> None:
    every = names(pxelab("--list", "scenarios"))
    shards = [names(pxelab("--list", "--shard", f"{k}/3", "scenarios")) for k in (1, 2, 3)]
    assert sorted(n for shard in shards for n in shard) == sorted(every)
    assert all(shards)


def test_bad_input_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "scenario.toml").write_text('[network]\nmtu = 12\n[[client]]\nname = "c"\n')
    proc = pxelab(str(bad))
    assert proc.returncode == 2
    assert f"{bad / 'scenario.toml'}: network.mtu: 12 is outside 576-9000" in proc.stderr
    assert pxelab("--shard", "4/3", "scenarios").returncode == 2
    assert pxelab(str(tmp_path / "nowhere")).returncode == 2


def test_pytest_collects_each_scenario_with_markers() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "scenarios/"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    items = [line for line in proc.stdout.splitlines() if "scenario.toml::" in line]
    folders = sorted(p.parent.name for p in (REPO / "scenarios").glob("*/scenario.toml"))
    assert sorted(i.split("::")[1] for i in items) == folders


def test_pytest_reports_a_bad_scenario_as_a_collection_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "scenario.toml").write_text('[router]\npool = "x"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         str(tmp_path), "--rootdir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout
    assert "router.pool" in proc.stdout and "FIRST-LAST" in proc.stdout
