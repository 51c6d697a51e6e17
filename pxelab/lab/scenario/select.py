"""Which scenarios a run takes: the files under the paths given, loaded and checked, one shard
of them, and the `--list` view of them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pxelab.lab.scenario.model import Scenario, ScenarioError, discover, load


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`K/N` (1-based) as (K, N); ValueError saying what is wrong otherwise."""
    if text is None:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected K/N such as 1/4") from None
    if not (n >= 1 and 1 <= k <= n):
        raise ValueError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def select(paths: Sequence[str | Path], shard: str | None = None) -> list[Scenario]:
    """Every scenario under `paths`, validated, in a stable order, cut to one shard.

    Raises ValueError (ScenarioError for a file that does not validate) with the reason."""
    cut = parse_shard(shard)
    scenarios = [load(f) for f in discover(list(paths))]
    names = [s.name for s in scenarios]
    dup = next((n for i, n in enumerate(names) if names.index(n) != i), None)
    if dup:
        raise ScenarioError("", "", f"two scenarios are called {dup!r}")
    if cut:
        k, n = cut
        scenarios = [s for i, s in enumerate(scenarios) if i % n == k - 1]
    return scenarios


def listing(scenarios: Sequence[Scenario]) -> str:
    """One line per scenario: name, client kinds, description."""
    lines = []
    for s in scenarios:
        kinds = "+".join(sorted({c.kind for c in s.clients}))
        lines.append(f"{s.name:24} {kinds:14} {s.description}")
    return "\n".join(lines)
