"""pytest plugin (entry point `pxelab`): collects `scenarios/*/scenario.toml` as test items.

    pytest scenarios/ -n 2                  # every built-in scenario, two labs at a time
    pytest scenarios/ --lab-report report/  # keep each scenario's report folder there

Each item runs the scenario in a lab of its own (random lab id), so xdist workers never clash.
Items carry the `root` marker (and `qemu` when a client is a VM); without root they are skipped
with the reason. A failure shows the step, what was expected, what was seen (the rendered
screen) and the report folder.

Loaded by every pytest run where pxelab is installed, so importing it stays cheap: the scenario
model and runner are imported only when a scenario file is collected.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

SCENARIO_FILE = "scenario.toml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pxelab", "pxelab lab scenarios")
    group.addoption(
        "--lab-report",
        metavar="DIR",
        default=None,
        help="write each scenario's report folder (result.json, screen, pcap) under DIR",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name == SCENARIO_FILE:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Any:
        from pxelab.lab.scenario.model import ScenarioError, load

        try:
            scn = load(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        item = ScenarioItem.from_parent(self, name=scn.name, scenario=scn)
        item.add_marker(pytest.mark.root)
        if scn.needs_qemu:
            item.add_marker(pytest.mark.qemu)
        yield item


class ScenarioFailed(Exception):
    def __init__(self, result: Any) -> None:
        super().__init__(result.reason)
        self.result = result


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def setup(self) -> None:
        if os.geteuid() != 0:
            pytest.skip("lab scenarios need root for network namespaces (run pytest as root)")
        from pxelab.lab.network.topology import check_privileges

        problem = check_privileges()
        if problem:
            pytest.skip(problem)

    def _report_dir(self) -> Path:
        root = self.config.getoption("lab_report")
        if root:
            return Path(root) / self.scenario.name
        factory = self.config._tmp_path_factory  # type: ignore[attr-defined]
        return Path(factory.mktemp(f"lab-{self.scenario.name}", numbered=True))

    def runtest(self) -> None:
        from pxelab.lab.scenario.runner import run_scenario

        result = run_scenario(self.scenario, report_dir=self._report_dir())
        self.user_properties.append(("report", result.report_dir))
        if result.time_to_menu_s is not None:
            self.user_properties.append(("time_to_menu_s", result.time_to_menu_s))
        if not result.passed:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioFailed):
            return f"scenario {self.scenario.name} failed\n" + excinfo.value.result.failure_text()
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.scenario.name}"
