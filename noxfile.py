"""nox sessions: tests (every tier), lab (the built-in scenarios), lint, bench, fuzz.

Sessions that need Debian packages run `pxelab doctor --install` first when root; not root,
doctor prints the apt-get line and the tiers that need root are skipped with a reason.
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


def _pytest(session: nox.Session, *args: str) -> None:
    # Exit 5 = nothing collected. A tier is expected to run tests, so collecting none fails it;
    # only a run the user filtered (`nox -s qemu -- -k edk2`) may legitimately select nothing.
    codes = [0, 5] if session.posargs else [0]
    session.run("pytest", *args, *session.posargs, success_codes=codes)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests; labs run through `pxelab lab` (rootless where the kernel allows); tests in
    namespaces (root); QEMU boots (root)."""
    _setup(session)
    _pytest(session, "tests", "-m", "not root and not qemu and not lab", "-p", "no:cacheprovider")
    _pytest(session, "tests", "-m", "lab", "-p", "no:cacheprovider")
    _pytest(session, "tests", "-m", "root and not qemu and not lab", "-p", "no:cacheprovider")
    _pytest(session, "tests", "-m", "qemu and not lab", "-p", "no:cacheprovider")
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
        "pytest", "tests", "-m", "not root and not qemu", "-k", "fuzz",
        "--hypothesis-profile", "fuzz", *session.posargs,
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
