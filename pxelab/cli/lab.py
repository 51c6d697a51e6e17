"""`pxelab lab`: run lab scenarios, or remove what a killed run left (`--cleanup`).

    pxelab lab scenarios/ --report report/ -j 2     # every built-in scenario, 2 at a time
    pxelab lab scenarios/seed-tinycore              # one
    pxelab lab --list scenarios/                    # what would run
    pxelab lab --cleanup                            # after a SIGKILLed run

Exit codes: 0 every scenario passed, 1 some failed, 2 bad input (a scenario file that does not
validate, a bad --shard, nothing to run).
"""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="scenario folders, scenario.toml files, or folders of scenarios "
                             "(default: scenarios/)")  # fmt: skip
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--report", metavar="DIR",
                        help="write a folder per scenario and index.html here")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                        help="run N scenarios at once")
    parser.add_argument("--shard", metavar="K/N", help="run only the K-th of N shards (1-based)")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every scenario even after a failure")
    parser.add_argument("--cleanup", action="store_true",
                        help="remove every pxelab- namespace, link and process a killed run left")
    parser.add_argument("--lab-id", metavar="ID",
                        help="with --cleanup: only what lab ID left (pxelab-ID-*)")


def _cleanup(args: argparse.Namespace) -> int:
    from pxelab.lab.net import PREFIX, check_privileges, cleanup

    problem = check_privileges()
    if problem:
        print(f"pxelab lab --cleanup: {problem}")
        return 1
    prefix = f"{PREFIX}{args.lab_id}-" if args.lab_id else PREFIX
    removed = cleanup(prefix)
    for line in removed:
        print(f"removed {line}")
    if not removed:
        print("nothing to clean up")
    return 1 if any("NOT removed" in line for line in removed) else 0


def _shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected K/N such as 1/4") from None
    if not (n >= 1 and 1 <= k <= n):
        raise ValueError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def run(args: argparse.Namespace) -> int:
    if args.cleanup:
        return _cleanup(args)
    from pathlib import Path

    from pxelab.lab import progress, scenario

    if args.jobs < 1:
        print("pxelab lab: -j must be at least 1", file=sys.stderr)
        return 2
    try:
        shard = _shard(args.shard)
        files = scenario.discover(args.paths or ["scenarios"])
        scenarios = [scenario.load(f) for f in files]
    except (ValueError, scenario.ScenarioError) as exc:
        print(f"pxelab lab: {exc}", file=sys.stderr)
        return 2
    names = [s.name for s in scenarios]
    dup = next((n for i, n in enumerate(names) if names.index(n) != i), None)
    if dup:
        print(f"pxelab lab: two scenarios are called {dup!r}", file=sys.stderr)
        return 2
    if shard:
        k, n = shard
        scenarios = [s for i, s in enumerate(scenarios) if i % n == k - 1]
    if args.list:
        for s in scenarios:
            kinds = "+".join(sorted({c.kind for c in s.clients}))
            print(f"{s.name:24} {kinds:14} {s.description}")
        return 0
    if not scenarios:
        print("pxelab lab: no scenarios to run", file=sys.stderr)
        return 2
    from pxelab.lab.net import check_privileges

    problem = check_privileges()
    if problem:
        print(f"pxelab lab: {problem}", file=sys.stderr)
        return 2
    # Absolute: services chdir (dnsmasq to /), and relative pid/log paths would break.
    report = Path(args.report).resolve() if args.report else None
    return progress.run_with_progress(
        scenarios, report_root=report, jobs=args.jobs, keep_going=args.keep_going
    )
