"""nox sessions: tests (every tier), lab (the built-in scenarios), lint, bench, fuzz.

Sessions that need Debian packages run `pxelab doctor --install` first when root; not root,
doctor prints the apt-get line. Not root, the tiers that need namespaces run inside a user
namespace of pytest's own, and only what needs host root is skipped, with its reason.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

IS_ROOT = os.geteuid() == 0


def _setup(session: nox.Session, extras: str = "test") -> None:
    session.install("-e", f".[{extras}]")
    if IS_ROOT:
        session.run("pxelab", "doctor", "--install")
    else:
        # Prints what is missing and the apt-get line; not fatal: root-only tiers skip.
        session.run("pxelab", "doctor", success_codes=[0, 1])


# The test tiers, by what a test needs (tests/conftest.py): a marker expression, and whether the
# tier needs namespaces, which an ordinary user gets by pytest entering a user namespace of its
# own (`--lab-userns`, issue 17; no effect as root).
TIERS = {
    "unit": ("not lab and not root and not qemu", False),
    "lab": ("lab and not root and not qemu", True),
    "root": ("root and not qemu", False),
    "qemu": ("qemu", True),
}
# Tells tests/lab/test_tier_userns.py who started the tier, so it can prove that a user's tier
# is not root of the host.
TIER_UID_ENV = "PXELAB_TIER_UID"


def _tiers(posargs: list[str]) -> tuple[list[str], list[str]]:
    """`nox -s tests -- lab qemu -k edk2`: the tiers named first (all when none), then what
    goes to pytest."""
    names = []
    for arg in posargs:
        if arg not in TIERS:
            break
        names.append(arg)
    return names or list(TIERS), posargs[len(names) :]


def _pytest(session: nox.Session, tier: str, args: list[str]) -> None:
    marks, userns = TIERS[tier]
    # Exit 5 = nothing collected. A tier is expected to run tests, so collecting none fails it;
    # only a run the user filtered (`nox -s tests -- qemu -k edk2`) may legitimately select
    # nothing.
    codes = [0, 5] if args else [0]
    session.run(
        "pytest", "tests", "-m", marks, "-p", "no:cacheprovider",
        *(["--lab-userns"] if userns else []), *args,
        success_codes=codes, env={TIER_UID_ENV: str(os.getuid())},
    )  # fmt: skip


@nox.session
def tests(session: nox.Session) -> None:
    """The test tiers: unit; lab (namespaces: as a user inside a user namespace of pytest's
    own); root (host root, skipped with its reason otherwise); qemu (real firmware).
    `nox -s tests -- lab` runs one tier; what follows the tier names goes to pytest."""
    _setup(session)
    tiers, args = _tiers(session.posargs)
    if "qemu" in tiers and not IS_ROOT:
        # The guest is built with network before the tier enters a namespace that has none.
        session.run("python", "-m", "pxelab.lab.machines.guest")
    for tier in tiers:
        _pytest(session, tier, args)
    session.run("pxelab", "lab", "--cleanup", success_codes=[0, 1, 2])


@nox.session
def lab(session: nox.Session) -> None:
    """The built-in scenarios, report in report/ (`nox -s lab -- scenarios/seed-tinycore`)."""
    _setup(session)
    # As a user too: the guest is built into the user's cache, with network, before the lab
    # enters namespaces that have none.
    session.run("python", "-m", "pxelab.lab.machines.guest")
    targets = session.posargs or ["scenarios/"]
    # -j 2: the two cores run two labs at once; --keep-going: every scenario gets its result.
    session.run("pxelab", "lab", *targets, "--report", "report", "-j", "2", "--keep-going")


@nox.session
def fuzz(session: nox.Session) -> None:
    """The long form of the decoder fuzzing (the test run holds a short one)."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "tests",
        "-m",
        TIERS["unit"][0],
        "-k",
        "fuzz",
        "--hypothesis-profile",
        "fuzz",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "pxelab", "tests", "benchmarks", "noxfile.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the named peers, measured in the same run, printed side by side."""
    _setup(session)
    for script in sorted(os.listdir("benchmarks")):
        if script.endswith(".py") and not script.startswith("_"):
            session.run("python", f"benchmarks/{script}", *session.posargs)
