"""pytest plugin (entry point `pxelab`): collects `scenarios/*/scenario.toml` as test items.

    pytest scenarios/ -n 2                  # every built-in scenario, two labs at a time
    pytest scenarios/ --lab-report report/  # keep each scenario's report folder there

Each item runs the scenario in a lab of its own (random lab id), so xdist workers never clash.
Items carry the `lab` marker (and `qemu` when a client is a VM): they need namespaces, so they
run as root or, for an ordinary user, with `--lab-userns`; otherwise they are skipped with the
reason. A failure shows the step, what was expected, what was seen (the rendered screen) and
the report folder.

`--lab-userns` (issue 17): not root, the whole pytest run starts again inside a user, mount,
network and pid namespace of its own, made by pxelab.lab.network.userns exactly as for
`pxelab lab`. Inside, the run is root of namespaces that the user owns, so tests that build
labs in the test process work, while the host stays out of reach (uid 0 inside is the user
outside, and only that uid is mapped). Whatever the run leaves, processes, mounts, network
namespaces, goes with the namespace when it ends, even on SIGKILL of pytest. As root, or where
the kernel refuses, the option changes nothing (the `lab` tests are then skipped with the
kernel's reason).

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
    group.addoption(
        "--lab-userns",
        action="store_true",
        default=False,
        help="not root: run the tests inside a user namespace of their own, root only inside "
        "it, so `lab` tests can build namespaces (no effect as root)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """`--lab-userns` as a user: run this pytest again inside the lab's namespaces and exit
    with its code; this process stays its parent (signals reach it, SIGKILL ends it all)."""
    if not config.getoption("lab_userns") or hasattr(config, "workerinput"):
        return None
    from pxelab.lab.network import userns

    if not userns.wanted():
        return None  # root, or already inside
    if userns.refusal() is not None:
        return None  # stay here: the `lab` tests are skipped with the kernel's reason
    return userns.enter(userns.runner_argv())


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
        item.add_marker(pytest.mark.lab)
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
            pytest.skip("lab scenarios need network namespaces: run pytest with --lab-userns "
                        "(rootless) or as root")  # fmt: skip
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
