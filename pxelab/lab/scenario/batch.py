"""Many scenarios: one after the other or `jobs` at a time, each in a worker process of its own
(its own lab, its own signal handlers), with the live progress display and the final table.

    python -m pxelab.lab.scenario.batch FILE --result OUT [--report-dir DIR]   # one worker
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from pxelab.lab.network.topology import check_privileges
from pxelab.lab.network.userns import enter_if_needed
from pxelab.lab.report import html
from pxelab.lab.report.junit import write_junit
from pxelab.lab.report.progress import Progress, table
from pxelab.lab.report.results import Result, result_from_dict
from pxelab.lab.scenario.model import Scenario, load
from pxelab.lab.scenario.runner import ProgressFn, run_scenario
from pxelab.lab.scenario.select import listing, select

_PHASE = "PXELAB-PHASE "
_WORKERS: set[subprocess.Popen[str]] = set()


def _forward_signal(signum: int, frame: Any) -> None:
    """SIGTERM to the runner reaches every worker, which tears its lab down."""
    for proc in list(_WORKERS):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)
    raise SystemExit(128 + signum)


def _run_in_subprocess(
    scn: Scenario, report_root: Path | None, progress: ProgressFn | None
) -> Result:
    """One scenario in a process of its own (own lab, own signal handlers), phases on stdout."""
    with tempfile.TemporaryDirectory(prefix="pxelab-result-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [sys.executable, "-m", "pxelab.lab.scenario.batch", str(scn.file),
                "--result", str(out)]
        if report_root is not None:
            argv += ["--report-dir", str(report_root / scn.name)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _WORKERS.add(proc)
        tail: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(_PHASE):
                if progress:
                    progress(scn.name, line[len(_PHASE) :].strip())
            else:
                tail = [*tail[-20:], line.rstrip("\n")]
        code = proc.wait()
        _WORKERS.discard(proc)
        if out.exists():
            return result_from_dict(json.loads(out.read_text()))
        why = f"worker exited with code {code}: " + ("\n".join(tail[-5:]) or "(no output)")
        return Result(scn.name, str(scn.file), False, why)


def run_many(
    scenarios: list[Scenario],
    *,
    report_root: Path | None,
    jobs: int = 1,
    keep_going: bool = True,
    progress: ProgressFn | None = None,
) -> list[Result]:
    """Run scenarios, `jobs` at a time (each in a process of its own when jobs > 1)."""
    results: list[Result] = []
    if jobs <= 1:
        for scn in scenarios:
            rd = report_root / scn.name if report_root else None
            res = run_scenario(scn, report_dir=rd, progress=progress)
            results.append(res)
            if not res.passed and not keep_going:
                break
        return results

    order = {s.name: i for i, s in enumerate(scenarios)}
    stop = threading.Event()

    def one(scn: Scenario) -> Result | None:
        if stop.is_set():
            return None
        return _run_in_subprocess(scn, report_root, progress)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C reaches the workers anyway (same process group); SIGTERM is sent to us alone.
        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _forward_signal)}
    try:
        _run_pool(scenarios, jobs, one, results, keep_going, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for proc in list(_WORKERS):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
    results.sort(key=lambda r: order.get(r.scenario, 0))
    return results


def _run_pool(
    scenarios: list[Scenario],
    jobs: int,
    one: Callable[[Scenario], Result | None],
    results: list[Result],
    keep_going: bool,
    stop: threading.Event,
) -> None:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        pending = {pool.submit(one, s) for s in scenarios}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                res = fut.result()
                if res is None:
                    continue
                results.append(res)
                if not res.passed and not keep_going:
                    stop.set()


def main(argv: list[str] | None = None) -> int:
    """Worker entry: `python -m pxelab.lab.scenario.batch FILE --result OUT [--report-dir DIR]`."""
    parser = argparse.ArgumentParser(prog="pxelab.lab.scenario.batch")
    parser.add_argument("file")
    parser.add_argument("--result", required=True)
    parser.add_argument("--report-dir")
    args = parser.parse_args(argv)

    def progress(name: str, phase: str) -> None:
        print(f"{_PHASE}{phase}", flush=True)

    res = run_scenario(
        load(args.file),
        report_dir=Path(args.report_dir) if args.report_dir else None,
        progress=progress,
    )
    d = res.as_dict()
    d["screen"] = res.screen
    Path(args.result).write_text(json.dumps(d, default=str))
    return 0 if res.passed else 1


def write_result_json(path: Path, result: Result) -> None:
    path.write_text(json.dumps(result.as_dict(), indent=2, default=str) + "\n")




def run_with_progress(
    scenarios: list[Scenario], *, report_root: Path | None, jobs: int, keep_going: bool,
    junit: Path | None = None,
) -> int:
    prog = Progress()
    prog.start()
    t0 = time.monotonic()
    try:
        results = run_many(
            scenarios, report_root=report_root, jobs=jobs, keep_going=keep_going, progress=prog
        )
    finally:
        prog.stop()
    out = sys.stdout
    out.write("\n" + table(results) + "\n")
    for r in results:
        if not r.passed:
            out.write(f"\n--- {r.scenario}\n{r.failure_text()}\n")
    skipped = [s.name for s in scenarios if s.name not in {r.scenario for r in results}]
    if skipped:
        out.write(f"\nnot run (stopped after a failure; --keep-going runs all): "
                  f"{', '.join(skipped)}\n")  # fmt: skip
    passed = sum(1 for r in results if r.passed)
    out.write(f"\n{passed} of {len(scenarios)} passed in {time.monotonic() - t0:.1f} s\n")
    if report_root is not None:
        index = html.write_index(report_root, results)
        out.write(f"report: {index}\n")
    if junit is not None:
        out.write(f"junit: {write_junit(junit, results)}\n")
    out.flush()
    return 0 if passed == len(scenarios) else 1



def lab_command(paths: list[str], *, report: str | None, jobs: int, shard: str | None,
                keep_going: bool, list_only: bool, junit: str | None = None) -> int:
    """`pxelab lab PATH...`: 0 every scenario passed, 1 some failed, 2 bad input."""
    if jobs < 1:
        print("pxelab lab: -j must be at least 1", file=sys.stderr)
        return 2
    try:
        scenarios = select(paths or ["scenarios"], shard)
    except ValueError as exc:
        print(f"pxelab lab: {exc}", file=sys.stderr)
        return 2
    if list_only:
        if scenarios:
            print(listing(scenarios))
        return 0
    if not scenarios:
        print("pxelab lab: no scenarios to run", file=sys.stderr)
        return 2
    # Not root: from here on in namespaces of its own (issue 17), or one line why not and 2.
    code = enter_if_needed()
    if code is not None:
        return code
    problem = check_privileges()
    if problem:
        print(f"pxelab lab: {problem}", file=sys.stderr)
        return 2
    # Absolute: services chdir (dnsmasq to /), and relative pid/log paths would break.
    root = Path(report).resolve() if report else None
    return run_with_progress(scenarios, report_root=root, jobs=jobs, keep_going=keep_going,
                             junit=Path(junit).resolve() if junit else None)


if __name__ == "__main__":
    sys.exit(main())
