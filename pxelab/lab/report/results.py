"""The records a scenario run produces, and the failure text pytest and the CLI both print.

They live below the runner and the client drivers so both build them without importing each
other; `result_from_dict` reads them back from the JSON a worker process writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def render_failure(
    where: str,
    expected: str,
    actual: str,
    screen: str = "",
    report: str | None = None,
    picture: str | None = None,
) -> str:
    """Step, expected, actual, the screen as it stood (text and PNG), and where the report is."""
    lines = [f"failed at: {where}", f"expected:  {expected}", f"actual:    {actual}"]
    if screen:
        lines += ["screen:", *(f"  | {row}" for row in screen.rstrip("\n").splitlines())]
    if picture:
        lines.append(f"picture:   {picture}")
    if report:
        lines.append(f"report:    {report}")
    return "\n".join(lines)


@dataclass
class ClientResult:
    name: str
    kind: str
    passed: bool
    reason: str = ""
    time_to_menu_s: float | None = None
    screen: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    scenario: str
    file: str
    passed: bool
    reason: str = ""
    time_to_menu_s: float | None = None
    duration_s: float = 0.0
    lab_id: str = ""
    phases: list[dict[str, Any]] = field(default_factory=list)
    clients: list[ClientResult] = field(default_factory=list)
    failure: dict[str, Any] | None = None
    report_dir: str | None = None
    screen: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("screen", None)
        return d

    def failure_text(self) -> str:
        """What pytest and the CLI show for a failure: step, expected, actual, screen, report."""
        if self.passed:
            return ""
        if self.failure:
            f = self.failure
            return render_failure(
                f["where"],
                f["expected"],
                f["actual"],
                f.get("screen", ""),
                self.report_dir,
                f.get("picture"),
            )
        text = f"failed: {self.reason}"
        if self.screen:
            text += "\nscreen:\n" + "\n".join(f"  | {r}" for r in self.screen.splitlines())
        if self.report_dir:
            text += f"\nreport:    {self.report_dir}"
        return text


def result_from_dict(d: dict[str, Any]) -> Result:
    d = dict(d)
    d["clients"] = [ClientResult(**c) for c in d.get("clients", [])]
    return Result(**d)
