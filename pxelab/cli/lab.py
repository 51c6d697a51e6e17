"""`pxelab lab`: run lab scenarios, or remove what a killed run left (`--cleanup`).

    pxelab lab scenarios/ --report report/ -j 2     # every built-in scenario, 2 at a time
    pxelab lab scenarios/seed-tinycore              # one
    pxelab lab --list scenarios/                    # what would run
    pxelab lab --cleanup                            # after a SIGKILLed run
    pxelab lab --dnsmasq-conf /etc/dnsmasq.conf --tftp-root /srv/tftp   # every client, a matrix

Exit codes: 0 every scenario passed (with --dnsmasq-conf: every client reached a menu or a
boot), 1 some failed, 2 bad input (a scenario file that does not validate, a bad --shard,
nothing to run).
"""

from __future__ import annotations

import argparse


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
    parser.add_argument("--junit", metavar="FILE",
                        help="write JUnit XML here: one test case per scenario client")
    mine = parser.add_argument_group("your own config against every client (no scenario path)")
    mine.add_argument("--dnsmasq-conf", metavar="FILE", help="the dnsmasq.conf to try")
    mine.add_argument("--config", metavar="FILE", help="a pxelab TOML config to try instead")
    mine.add_argument("--tftp-root", metavar="DIR", help="the TFTP tree it serves")
    mine.add_argument("--clients", metavar="LIST",
                      help="comma-separated profiles (scripted:NAME, vm:NAME, scripted, vm); "
                           "default: every scripted profile and every vm/ profile")
    mine.add_argument("--proxy", choices=("pxelab", "dnsmasq"), default="pxelab",
                      help="which proxy serves the config (default pxelab)")
    mine.add_argument("--save-scenario", metavar="DIR",
                      help="write what each client saw as scenarios under DIR")


def run(args: argparse.Namespace) -> int:
    if args.cleanup:
        from pxelab.lab.network.topology import cleanup_command

        return cleanup_command(args.lab_id)
    if args.dnsmasq_conf or args.config:
        from pxelab.lab.scenario.matrix import matrix_command

        return matrix_command(
            dnsmasq_conf=args.dnsmasq_conf, config=args.config, tftp_root=args.tftp_root,
            clients=args.clients, proxy=args.proxy, jobs=args.jobs, report=args.report,
            save_scenario=args.save_scenario, junit=args.junit,
        )
    from pxelab.lab.scenario.batch import lab_command

    return lab_command(args.paths, report=args.report, jobs=args.jobs, shard=args.shard,
                       keep_going=args.keep_going, list_only=args.list, junit=args.junit)
