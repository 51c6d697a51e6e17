"""`pxelab check` on a file: read it, check the chain, print one finding per line, exit status.

0 when nothing would stop a client (warnings may be printed), 1 with the findings otherwise,
2 for a client identity that does not parse.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from pxelab.boot.pxelinux import mac_name, uuid_bytes
from pxelab.config.check import ClientIdentity, Finding, Report, check, client_chain
from pxelab.config.model import ConfigError, ServerConfig


def read_config(path: Path, *, toml: bool) -> ServerConfig:
    if toml:
        from pxelab.config.tomlconf import read_toml

        return read_toml(path)
    from pxelab.config.dnsmasq import read_dnsmasq_conf

    return read_dnsmasq_conf(path)


def identity(
    mac: str | None, arch: int | None, ip: str | None, uuid: str | None
) -> ClientIdentity | None:
    """The client `--mac/--arch/--ip/--uuid` name, or None; ValueError for one that is wrong."""
    if all(v is None for v in (mac, arch, ip, uuid)):
        return None
    if uuid is not None:
        uuid_bytes(uuid)
    if mac is not None:
        mac_name(mac)
    return ClientIdentity(mac=mac, arch=arch or 0, ip=ip, uuid=uuid)


def _report(
    path: Path, toml: bool, user: str | None, who: ClientIdentity | None, secure_boot: bool,
    probe: bool = False,
) -> Report:
    report = Report()
    if not path.is_file():
        report.findings.append(Finding(
            "error", str(path),
            "configuration file does not exist (`dnsmasq --test` says 'syntax check OK' even so)",
            "give the path of the file the server will read (dnsmasq: /etc/dnsmasq.conf)",
        ))  # fmt: skip
        return report
    try:
        cfg = read_config(path, toml=toml)
    except ConfigError as exc:
        report.findings.append(Finding("error", str(exc.source), exc.reason, "correct the line"))
        return report
    except ImportError:
        report.findings.append(Finding("error", str(path), "TOML configurations cannot be "
                                       "read by this build", "use --dnsmasq-conf"))  # fmt: skip
        return report
    cfg.secure_boot = cfg.secure_boot or secure_boot
    report = check(cfg, user=user)
    if probe:  # only when asked: this makes HTTP requests (pxelab.config.check_http)
        from pxelab.config.check_http import probe_urls

        report.summary.append(f"{probe_urls(cfg, report)} URL(s) asked for")
    if who is not None:
        report.chain = client_chain(cfg, who, report)
    return report


def check_file(
    path: Path, *, toml: bool = False, user: str | None = None,
    who: ClientIdentity | None = None, out: TextIO | None = None, secure_boot: bool = False,
    probe: bool = False,
) -> int:
    out = out or sys.stdout
    report = _report(path, toml, user, who, secure_boot, probe)
    for finding in report.findings:
        print(finding, file=out)
    if report.chain:
        print("client chain:", file=out)
        for line in report.chain:
            print(f"  {line}", file=out)
    n_err, n_warn = len(report.errors), len(report.warnings)
    if n_err:
        print(f"{path}: {n_err} error(s), {n_warn} warning(s): clients will not boot", file=out)
        return 1
    print(f"OK: {path}: " + "; ".join(report.summary)
          + (f"; {n_warn} warning(s)" if n_warn else ""), file=out)  # fmt: skip
    return 0
