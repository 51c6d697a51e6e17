"""JUnit XML for CI systems that read test results without pytest: one case per scenario client.

A scenario's failure belongs to the client it names (`client c0, steps[1] ...`); a failure that
names no client (an `[expect]` check, a service that did not start) fails every case of that
scenario, since none of them can be said to have passed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from pxelab.lab.report.results import Result


def _client_failed(result: Result, name: str, passed: bool) -> bool:
    if not passed:
        return True
    where = (result.failure or {}).get("where", "")
    if where.startswith("client "):
        return False  # the failure is another client's; this one held
    return not result.passed


def _last_shot(result: Result, shots: list[object]) -> str | None:
    """The client's last picture, joined with its report folder (the records are relative)."""
    if not shots:
        return None
    last = shots[-1]
    rel = str(last.get("path") if isinstance(last, dict) else last)
    return str(Path(result.report_dir) / rel) if result.report_dir else rel


def junit_tree(results: Sequence[Result]) -> ET.ElementTree:
    suites = ET.Element("testsuites", name="pxelab lab")
    for r in results:
        cases = r.clients or []
        suite = ET.SubElement(suites, "testsuite", name=r.scenario, file=r.file,
                              time=f"{r.duration_s:.3f}")  # fmt: skip
        failures = 0
        if not cases:
            case = ET.SubElement(suite, "testcase", classname=r.scenario, name="(scenario)",
                                 time=f"{r.duration_s:.3f}")  # fmt: skip
            if not r.passed:
                failures += 1
                ET.SubElement(case, "failure", message=r.reason[:200]).text = r.failure_text()
        for c in cases:
            case = ET.SubElement(suite, "testcase", classname=r.scenario,
                                 name=f"{c.name} ({c.kind})")  # fmt: skip
            if _client_failed(r, c.name, c.passed):
                failures += 1
                text = r.failure_text()
                shot = _last_shot(r, c.details.get("screenshots") or [])
                if shot:
                    text += f"\nscreenshot: {shot}"
                ET.SubElement(case, "failure",
                              message=(c.reason or r.reason)[:200]).text = text  # fmt: skip
            elif c.screen:
                ET.SubElement(case, "system-out").text = c.screen
        suite.set("tests", str(max(1, len(cases))))
        suite.set("failures", str(failures))
    return ET.ElementTree(suites)


def write_junit(path: Path, results: Sequence[Result]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = junit_tree(results)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
