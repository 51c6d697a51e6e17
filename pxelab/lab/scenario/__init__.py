"""Scenarios: `scenario.toml` read into a model (`model`), the runner that builds a lab for one
scenario and tears it down whatever happens (`runner`), the scripted and VM clients it starts
(`clients`), the assertions over screens, events and captures (`assertions`), and many scenarios
at once with the progress display (`batch`).

The top of `pxelab.lab`: it may import every other sub-package.
"""

from pxelab.lab.report.results import ClientResult, Result
from pxelab.lab.scenario.model import Scenario, ScenarioError, discover, load

__all__ = ["ClientResult", "Result", "Scenario", "ScenarioError", "discover", "load"]
