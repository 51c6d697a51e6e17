"""`pxelab lab`: run lab scenarios, or remove what a killed run left (`--cleanup`).

This first version does the clean-up only; the scenario runner takes the other options over.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="scenario folders or files")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--report", metavar="DIR", help="write reports (JUnit XML, pcaps) here")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                        help="run N scenarios at once")
    parser.add_argument("--shard", metavar="K/N", help="run only the K-th of N shards")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every scenario even after a failure")
    parser.add_argument("--cleanup", action="store_true",
                        help="remove every pxelab- namespace, link and process a killed run left")
    parser.add_argument("--lab-id", metavar="ID",
                        help="with --cleanup: only what lab ID left (pxelab-ID-*)")


def run(args: argparse.Namespace) -> int:
    if not args.cleanup:
        print("pxelab lab: scenario runner not available yet (only --cleanup works)")
        return 2
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
