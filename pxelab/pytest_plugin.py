"""pytest plugin (entry point `pxelab`): collects `scenarios/*/scenario.toml` as test items.

Loaded by every pytest run in an environment where pxelab is installed, so importing it must stay
cheap and side-effect free: the scenario model and runner are imported only when a scenario file
is collected.
"""

from __future__ import annotations
