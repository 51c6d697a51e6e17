"""The report in a real browser: headless Chromium (Debian's `chromium`) opens index.html from
disk; its tables and pictures render, every image loads, and the console has no errors.

The page has no scripts of its own, so a copy of it with one appended (check.html, same folder,
same relative links) reports what the browser made of it into the DOM, which --dump-dom prints.
The browser's own screenshot of the page is kept as an artifact: its path is printed, under
$PXELAB_ARTIFACTS if set, else the test's tmp folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from pxelab.lab.report.html import write_index
from pxelab.lab.report.junit import junit_tree
from pxelab.lab.report.picture import draw_screen
from pxelab.lab.report.results import ClientResult, Result

CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const out = {tables: document.querySelectorAll("table").length, images: imgs.length,
    broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute("src")),
    widths: imgs.map(i => i.naturalWidth)};
  const pre = document.createElement("pre");
  pre.id = "pxelab-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (`pxelab doctor --install`)")
    return path


def _browse(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--allow-file-access-from-files", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=10000", *extra, page.as_uri()]  # fmt: skip
    # generous: two cores shared with QEMU boots
    return subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)


def _report(root: Path, *, break_one: bool = False) -> Path:
    folder = root / "seed-tinycore"
    shots = []
    for n, (step, text) in enumerate([("steps[0] expect_menu", "PXE Boot Menu\n> Standard"),
                                      ("end", "Booting the kernel")], start=1):  # fmt: skip
        draw_screen(text, folder / "shots" / f"c0-{n}.png")
        shots.append({"step": step, "path": f"shots/c0-{n}.png", "source": "drawn"})
    if break_one:
        (folder / "shots" / "c0-2.png").unlink()
    client = ClientResult("c0", "scripted", False, reason="no menu", screen="PXE Boot Menu",
                          details={"screenshots": shots})  # fmt: skip
    result = Result("seed-tinycore", "scenario.toml", False, reason="no menu", clients=[client],
                    report_dir=str(folder), phases=[{"name": "client c0", "start_s": 0.0,
                                                     "duration_s": 1.0}])  # fmt: skip
    result.failure = {
        "where": "client c0, steps[0] expect_menu",
        "expected": "a menu",
        "actual": "none",
        "screen": "PXE",
        "picture": str(folder / "shots/c0-2.png"),
    }
    return write_index(root, [result])


def _artifacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get("PXELAB_ARTIFACTS", tmp_path / "artifacts"))
    where.mkdir(parents=True, exist_ok=True)
    return where


def _check(index: Path) -> dict[str, object]:
    check = index.with_name("check.html")
    check.write_text(index.read_text().replace("</body>", CHECK + "</body>"))
    proc = _browse(check, "--dump-dom")
    m = re.search(r'<pre id="pxelab-check">(.*?)</pre>', proc.stdout)
    assert m, f"the check did not run:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"'))


ERROR_MARKS = ("CONSOLE", "Failed to load resource", "Not allowed to load")


def _console_errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if any(m in ln for m in ERROR_MARKS)]


def test_chromium_renders_the_report_tables_and_pictures_without_errors(tmp_path, capsys):
    index = _report(tmp_path / "report")
    seen = _check(index)
    assert seen["tables"] >= 1
    # the client's last picture in the summary, and each step's in the scenario
    assert seen["images"] == 3
    assert seen["broken"] == [], seen
    assert all(w > 0 for w in seen["widths"])
    shot = _artifacts(tmp_path) / "report-index.png"
    proc = _browse(index, f"--screenshot={shot}", "--window-size=1280,1600")
    assert _console_errors(proc.stderr) == []
    with Image.open(shot) as im:
        assert im.size == (1280, 1600)
        lo, hi = im.convert("L").getextrema()
        assert hi - lo > 100, "the page rendered blank"
    with capsys.disabled():
        print(f"\nbrowser screenshot of the report: {shot}")


def test_a_missing_picture_is_seen_by_the_browser(tmp_path):
    seen = _check(_report(tmp_path / "report", break_one=True))
    assert seen["broken"] == ["seed-tinycore/shots/c0-2.png"] * 2


def test_junit_names_the_failed_clients_picture_in_the_report(tmp_path):
    index = _report(tmp_path / "report")
    from pxelab.lab.report.results import result_from_dict

    data = json.loads(json.dumps(_result_dict(index)))
    text = junit_tree([result_from_dict(data)]).getroot().find(".//failure").text
    assert f"screenshot: {index.parent / 'seed-tinycore' / 'shots' / 'c0-2.png'}" in text
    assert "picture:" in text


def _result_dict(index: Path) -> dict[str, object]:
    folder = index.parent / "seed-tinycore"
    shots = [{"step": "end", "path": "shots/c0-2.png", "source": "drawn"}]
    return {"scenario": "seed-tinycore", "file": "scenario.toml", "passed": False,
            "reason": "no menu", "report_dir": str(folder),
            "failure": {"where": "client c0, steps[0]", "expected": "a menu", "actual": "none",
                        "picture": str(folder / "shots" / "c0-2.png")},
            "clients": [{"name": "c0", "kind": "scripted", "passed": False,
                         "details": {"screenshots": shots}}]}  # fmt: skip
