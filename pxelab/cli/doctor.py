"""`pxelab doctor [--install]`."""

from __future__ import annotations

import argparse
import shlex


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--install", action="store_true", help="install missing packages with apt-get (root only)"
    )


def run(args: argparse.Namespace) -> int:
    from pxelab import doctor

    for req in doctor.REQUIREMENTS:
        state = "missing" if req in doctor.missing((req,)) else "ok"
        print(f"{state:8} {req.package:18} {req.feature}")
    lacking = doctor.missing()
    if not lacking:
        print("all present")
        return 0
    names = [r.package for r in lacking]
    if args.install:
        if not doctor.is_root():
            print("pxelab doctor: --install needs root; run as root:")
            print("  " + shlex.join(["apt-get", "update"]))
            print("  " + shlex.join(doctor.apt_command(names)))
            return 1
        rc = doctor.install(names)
        still = doctor.missing()
        if rc != 0 or still:
            print(f"pxelab doctor: apt-get exited {rc}; still missing: "
                  + " ".join(r.package for r in still))
            return 1
        print(f"installed: {' '.join(names)}; all present")
        return 0
    print(f"missing {len(names)}: {' '.join(names)}")
    print(f"to install (as root, after apt-get update): {shlex.join(doctor.apt_command(names))}")
    print("features off until then:")
    for r in lacking:
        print(f"  - {r.feature}")
    return 1
