"""What a scenario asserts, and how a failed assertion explains itself.

A `StepFailure` carries the step, what was expected, what was seen and the rendered screen, so
both the runner's table and pytest's failure report can show the whole story. The `[expect]`
checks read the servers' events (pxelab's JSON lines, or dnsmasq's log turned into the same
events) so the same scenario holds for either proxy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pxelab.lab.report.results import render_failure
from pxelab.lab.scenario.model import Expect


@dataclass
class StepFailure(Exception):
    """A step (or an [expect] check) did not hold."""

    where: str  # "client c0, steps[2] expect_menu" or "expect.tftp_sequence"
    expected: str
    actual: str
    screen: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.where}: expected {self.expected}; got {self.actual}"

    def render(self, report: str | None = None) -> str:
        return render_failure(self.where, self.expected, self.actual, self.screen, report,
                              self.details.get("picture"))  # fmt: skip


def normalise_file(name: str, roots: Iterable[str] = ()) -> str:
    """A TFTP file as the client named it, without the server's root or a leading slash."""
    for root in roots:
        r = root.rstrip("/") + "/"
        if root and name.startswith(r):
            name = name[len(r) :]
            break
    return name.lstrip("/")


def tftp_requests(events: Sequence[dict[str, Any]], roots: Iterable[str] = ()) -> list[str]:
    """Files clients asked for, in order. pxelab logs each RRQ as `request`; dnsmasq only logs
    the outcome (sent, not found, failed), one per RRQ, so those stand for the request there."""
    roots = list(roots)
    tftp = [e for e in events if e.get("service") == "tftp" and "file" in e]
    if any(e.get("event") == "request" for e in tftp):
        return [normalise_file(str(e["file"]), roots) for e in tftp if e["event"] == "request"]
    outcome = ("sent", "not_found", "failed", "error")
    return [normalise_file(str(e["file"]), roots) for e in tftp if _outcome(e) in outcome]


def _outcome(event: dict[str, Any]) -> str | None:
    """pxelab logs `transfer` with an `outcome`; dnsmasq's log gives the outcome as the event."""
    if event.get("event") == "transfer":
        return str(event.get("outcome"))
    return str(event.get("event"))


def tftp_sent(events: Sequence[dict[str, Any]], roots: Iterable[str] = ()) -> list[str]:
    roots = list(roots)
    return [
        normalise_file(str(e["file"]), roots)
        for e in events
        if e.get("service") == "tftp" and "file" in e and _outcome(e) == "sent"
    ]


def http_sent(events: Sequence[dict[str, Any]], roots: Iterable[str] = ()) -> list[str]:
    """Files the HTTP server sent whole (its access log's `sent` lines), in order. A HEAD or a
    Range request is not a file sent."""
    roots = list(roots)
    return [
        normalise_file(str(e["path"]), roots)
        for e in events
        if e.get("service") == "http" and e.get("event") == "response" and e.get("status") == 200
        and e.get("outcome") == "sent" and e.get("method") == "GET" and "path" in e
    ]


def _collapse(items: Sequence[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if not out or out[-1] != item:
            out.append(item)
    return out


def _is_subsequence(wanted: Sequence[str], seen: Sequence[str]) -> tuple[bool, int]:
    """Whether `wanted` appears in `seen` in order; and how many of `wanted` matched."""
    i = 0
    for item in seen:
        if i < len(wanted) and item == wanted[i]:
            i += 1
    return i == len(wanted), i


def _contains_run(wanted: Sequence[str], seen: Sequence[str]) -> bool:
    n = len(wanted)
    return any(list(seen[i : i + n]) == list(wanted) for i in range(len(seen) - n + 1))


def _listing(items: Sequence[str]) -> str:
    if not items:
        return "(none)"
    return "\n".join(f"{i + 1:3}. {x}" for i, x in enumerate(items))


def check_expect(
    expect: Expect, events: Sequence[dict[str, Any]], roots: Iterable[str] = ()
) -> StepFailure | None:
    """The first [expect] check that fails, with the files seen as the 'screen'."""
    roots = list(roots)
    requested = tftp_requests(events, roots)
    sent = tftp_sent(events, roots)
    shown = "TFTP requests seen by the server, in order:\n" + _listing(requested)
    if expect.tftp_requested:
        ok, matched = _is_subsequence(expect.tftp_requested, requested)
        if not ok:
            return StepFailure(
                "expect.tftp_requested",
                f"requests in this order: {', '.join(expect.tftp_requested)}",
                f"{expect.tftp_requested[matched]!r} never requested after "
                f"{', '.join(expect.tftp_requested[:matched]) or 'the start'}",
                shown,
            )
    if expect.tftp_sequence:
        collapsed = _collapse(requested)
        if not _contains_run(expect.tftp_sequence, collapsed):
            return StepFailure(
                "expect.tftp_sequence",
                "these requests one after the other:\n" + _listing(expect.tftp_sequence),
                "no such run of requests (see the list below)",
                shown,
            )
    missing = [f for f in expect.tftp_sent if f not in sent]
    if missing:
        return StepFailure(
            "expect.tftp_sent",
            f"sent in full: {', '.join(expect.tftp_sent)}",
            f"not sent: {', '.join(missing)}",
            "TFTP files sent:\n" + _listing(sent),
        )
    if expect.http_sent:
        over_http = http_sent(events, roots)
        ok, matched = _is_subsequence(expect.http_sent, over_http)
        if not ok:
            return StepFailure(
                "expect.http_sent",
                f"sent over HTTP in this order: {', '.join(expect.http_sent)}",
                f"{expect.http_sent[matched]!r} not sent after "
                f"{', '.join(expect.http_sent[:matched]) or 'the start'}",
                "HTTP files sent, in order:\n" + _listing(over_http),
            )
    unwanted = [f for f in expect.tftp_not_requested if f in requested]
    if unwanted:
        return StepFailure(
            "expect.tftp_not_requested",
            f"never requested: {', '.join(expect.tftp_not_requested)}",
            f"requested: {', '.join(unwanted)}",
            shown,
        )
    return None


# dnsmasq's TFTP log lines (log-facility to stderr with -k), e.g.
#   dnsmasq-tftp[12]: sent /srv/tftp/pxelinux.0 to 192.168.10.21
#   dnsmasq-tftp[12]: file /srv/tftp/pxelinux.cfg/C0A80A15 not found
#   dnsmasq-tftp[12]: failed sending /srv/tftp/x to 192.168.10.21
_DNSMASQ_TFTP = [
    (re.compile(r"dnsmasq-tftp(?:\[\d+\])?: sent (\S+) to (\S+)"), "sent"),
    (re.compile(r"dnsmasq-tftp(?:\[\d+\])?: file (\S+) not found(?: for (\S+))?"), "not_found"),
    (re.compile(r"dnsmasq-tftp(?:\[\d+\])?: failed sending (\S+) to (\S+)"), "failed"),
]
_DNSMASQ_DHCP = re.compile(
    r"dnsmasq-dhcp(?:\[\d+\])?: (?:\d+ )?(PXE\([^)]*\)|DHCP\w*\([^)]*\)|\S+\([^)]*\)) (.*)$"
)
_DHCP_EVENTS = {"DHCPDISCOVER": "discover", "DHCPOFFER": "offer", "DHCPREQUEST": "request",
                "DHCPACK": "ack", "DHCPNAK": "nak", "PXE": "pxe"}  # fmt: skip
_MAC_IN = re.compile(r"\b[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\b")
_IP_IN = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
_TS = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) ")


def dnsmasq_events(
    lines: Iterable[str], *, service_dhcp: str = "proxydhcp"
) -> list[dict[str, Any]]:
    """dnsmasq's log as pxelab events (`ts` when each line was read, or from its syslog stamp)."""
    out: list[dict[str, Any]] = []
    for raw in lines:
        ts: float | None = None
        line = raw.rstrip("\n")
        if "\t" in line and line.split("\t", 1)[0].replace(".", "", 1).isdigit():
            stamp, line = line.split("\t", 1)
            ts = float(stamp)
        m = _TS.match(line)
        if ts is None and m:
            try:
                t = datetime.strptime(f"{datetime.now().year} {m.group(1)}", "%Y %b %d %H:%M:%S")
                ts = t.timestamp()
            except ValueError:
                ts = None
        for pattern, event in _DNSMASQ_TFTP:
            mt = pattern.search(line)
            if mt:
                rec: dict[str, Any] = {"ts": ts, "service": "tftp", "event": event,
                                       "file": mt.group(1), "source": "dnsmasq"}
                if mt.lastindex and mt.lastindex >= 2 and mt.group(2):
                    rec["client"] = mt.group(2)
                out.append(rec)
                break
        else:
            md = _DNSMASQ_DHCP.search(line)
            if md:
                name = md.group(1).split("(")[0]
                rec = {"ts": ts, "service": service_dhcp, "event": _DHCP_EVENTS.get(name, name),
                       "detail": md.group(2), "source": "dnsmasq"}  # fmt: skip
                mac = _MAC_IN.search(md.group(2))
                if mac:
                    rec["client"] = mac.group(0).lower()
                ip = _IP_IN.search(md.group(2))
                if ip and rec["event"] == "ack":
                    rec["ip"] = ip.group(0)
                out.append(rec)
    return out


def screen_contains(screen: str, text: str) -> bool:
    """Text on a screen, ignoring how many spaces the renderer put between words."""
    squash = re.compile(r"\s+")
    return squash.sub(" ", text).strip() in squash.sub(" ", screen)


def compare_menu(expected: dict[str, Any], menu: dict[str, Any] | None) -> str | None:
    """None when the menu matches; otherwise what differs, in a sentence."""
    if not menu:
        return "no menu"
    title = (menu.get("title") or "").strip()
    if "title" in expected and title != expected["title"].strip():
        return f"title {title!r}"
    entries = [_entry_text(e) for e in menu.get("entries") or []]
    if "entries" in expected:
        want = [w.strip() for w in expected["entries"]]
        if entries != want:
            return f"entries {entries!r}"
    if "default" in expected:
        default = menu.get("default")
        labels = _entry_names(menu, default)
        if expected["default"].strip() not in labels:
            return f"default {default!r}"
    return None


def _entry_text(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("text") or entry.get("label") or "").strip()
    return str(entry).strip()


def _entry_names(menu: dict[str, Any], default: Any) -> set[str]:
    """Every name the default entry goes by (its label and its menu text)."""
    names = {str(default).strip()} if default is not None else set()
    for e in menu.get("entries") or []:
        if isinstance(e, dict) and default in (e.get("label"), e.get("text")):
            names |= {str(e.get("label") or "").strip(), str(e.get("text") or "").strip()}
    return names
