"""The report: one folder per scenario and an index.html across them, readable from disk.

    report/<scenario>/result.json    scenario, passed, reason, time_to_menu_s, phases, clients
    report/<scenario>/console.log    raw console bytes (VMs) or the probe's output (scripted)
    report/<scenario>/screen.txt     the final rendered screen
    report/<scenario>/events.jsonl   server events (pxelab's, or dnsmasq's log turned into events)
    report/<scenario>/capture.pcap   everything on the lab's bridge
    report/<scenario>/shots/*.png    each client's screen after each step and at the end
    report/index.html                phase timelines and a DHCP/TFTP ladder per scenario

The HTML is one file with inline SVG (no scripts, no server), and links only by relative path
into its own folder, so the folder can be copied, zipped or kept as a CI artifact: the ladder is
drawn from the pcap, so it shows what was on the wire, not what the servers said; pictures are
thumbnails of the PNGs, each a plain link to the full-size image.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_ARROWS = 160
PHASE_COLOURS = {
    "tree": "#9e9e9e", "network": "#8d6e63", "services": "#7e57c2", "checks": "#26a69a",
    "teardown": "#bdbdbd", "firmware": "#ffb74d", "dhcp": "#42a5f5", "proxy": "#5c6bc0",
    "tftp": "#66bb6a", "menu": "#ef5350", "nbp": "#66bb6a", "pxelinux": "#9ccc65",
    "client": "#ffcc80",
}  # fmt: skip


def write_scenario(report_dir: Path, result: Any, artifacts: dict[str, Any], work: Path) -> None:
    """Everything about one scenario, written even when it failed half-way."""
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "console.log").write_text(artifacts.get("console", ""), errors="replace")
    (report_dir / "screen.txt").write_text((result.screen or "").rstrip("\n") + "\n")
    with (report_dir / "events.jsonl").open("w") as fh:
        for ev in artifacts.get("events") or []:
            fh.write(json.dumps(ev, default=str, separators=(",", ":")) + "\n")
    cap = artifacts.get("capture")
    dest = report_dir / "capture.pcap"
    if cap and Path(cap).exists() and Path(cap).resolve() != dest.resolve():
        shutil.copyfile(cap, dest)
    elif not dest.exists():
        dest.write_bytes(b"")
    logs = report_dir / "logs"
    for log in artifacts.get("service_logs") or []:
        if Path(log).exists():
            logs.mkdir(exist_ok=True)
            shutil.copyfile(log, logs / Path(log).name)
    if artifacts.get("traceback"):
        logs.mkdir(exist_ok=True)
        (logs / "traceback.txt").write_text(artifacts["traceback"])
    data = result.as_dict()
    data["report_dir"] = str(report_dir)
    (report_dir / "result.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    # The work folder holds the built TFTP tree (kernels): not worth keeping in a report.
    if work.parent == report_dir and work.name == "work":
        shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------- the ladder


_DHCP_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK",
               7: "RELEASE", 8: "INFORM"}  # fmt: skip


@dataclass
class Arrow:
    t: float
    src: str
    dst: str
    label: str
    kind: str  # "dhcp" | "proxy" | "tftp"
    client: str = ""  # the client this packet is about (its MAC, then its label)


def _frames(pcap: Path) -> Iterator[tuple[float, bytes]]:
    """(time, Ethernet frame) from a classic pcap file; unpacked by hand because scapy takes
    about a millisecond per packet and a kernel download is thousands of packets."""
    with pcap.open("rb") as fh:
        head = fh.read(24)
        if len(head) < 24:
            return
        magic = head[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            return  # pcapng or something else: no ladder rather than a wrong one
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        if struct.unpack(endian + "I", head[20:24])[0] != 1:  # LINKTYPE_ETHERNET only
            return
        rec = struct.Struct(endian + "IIII")
        while True:
            h = fh.read(16)
            if len(h) < 16:
                return
            sec, frac, incl, _orig = rec.unpack(h)
            data = fh.read(incl)
            if len(data) < incl:
                return
            yield sec + frac / (1e9 if nano else 1e6), data


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _udp(frame: bytes) -> tuple[str, str, str, str, int, int, bytes] | None:
    """(src mac, dst mac, src ip, dst ip, sport, dport, payload) of an IPv4/UDP frame."""
    if len(frame) < 42:
        return None
    etype, off = struct.unpack("!H", frame[12:14])[0], 14
    if etype == 0x8100:  # one VLAN tag
        etype, off = struct.unpack("!H", frame[16:18])[0], 18
    if etype != 0x0800:
        return None
    ihl = (frame[off] & 0x0F) * 4
    if frame[off + 9] != 17:
        return None
    src = ".".join(str(x) for x in frame[off + 12 : off + 16])
    dst = ".".join(str(x) for x in frame[off + 16 : off + 20])
    u = off + ihl
    sport, dport, length = struct.unpack("!HHH", frame[u : u + 6])
    return (_mac(frame[6:12]), _mac(frame[0:6]), src, dst, sport, dport,
            frame[u + 8 : u + max(8, length)])  # fmt: skip


def ladder_arrows(pcap: Path) -> tuple[list[str], list[Arrow]]:
    """Participants (by MAC, labelled with their IPv4) and arrows for DHCP/TFTP on the wire."""
    if not pcap.exists() or pcap.stat().st_size < 24:
        return [], []
    from scapy.layers.dhcp import BOOTP, DHCP

    names: dict[str, str] = {}
    arrows: list[Arrow] = []
    tftp_ports: set[tuple[str, int]] = set()  # (client ip, client port) of each RRQ
    transfer: dict[tuple[str, str, str], Arrow] = {}  # aggregate DATA/ACK per direction
    t0: float | None = None

    def who(mac: str, ip: str) -> str:
        if mac == "ff:ff:ff:ff:ff:ff":
            return "broadcast"
        if ip and ip not in ("0.0.0.0", "255.255.255.255") and ":" in names.get(mac, ":"):
            # A client first shows up as 0.0.0.0: name it by its address once it has one.
            names[mac] = ip if mac not in names else f"{ip} ({mac})"
        names.setdefault(mac, mac)
        return mac

    for t, frame in _frames(pcap):
        parsed = _udp(frame)
        if parsed is None:
            continue
        smac, dmac, sip, dip, sport, dport, payload = parsed
        t0 = t if t0 is None else t0
        rel = t - t0
        if {sport, dport} & {67, 68, 4011}:
            try:
                bootp = BOOTP(payload)
            except Exception:
                continue
            src, dst = who(smac, sip), who(dmac, dip)
            chaddr = _mac(bytes(bootp.chaddr)[:6])
            if not bootp.haslayer(DHCP):
                arrows.append(Arrow(rel, src, dst, "BOOTP", "dhcp", chaddr))
                continue
            opts = {o[0]: o[1:] for o in bootp[DHCP].options if isinstance(o, tuple)}
            mtype = opts.get("message-type", (0,))[0]
            label = _DHCP_TYPES.get(mtype, f"DHCP {mtype}")
            vc = opts.get("vendor_class_id", (b"",))[0]
            is_proxy = b"PXEClient" in (vc if isinstance(vc, bytes) else str(vc).encode())
            yi = bootp.yiaddr
            if yi and yi != "0.0.0.0":
                label += f" {yi}"
            boot = bootp.file.rstrip(b"\0").decode(errors="replace")
            if boot and mtype in (2, 5):
                label += f" file={boot}"
            on_4011 = 4011 in (sport, dport)
            if on_4011:
                label += " (4011)"
            kind = "proxy" if (mtype in (2, 5) and is_proxy) or on_4011 else "dhcp"
            arrows.append(Arrow(rel, src, dst, label, kind, chaddr))
            continue
        if len(payload) < 2 or not (
            dport == 69 or (sip, sport) in tftp_ports or (dip, dport) in tftp_ports
        ):
            continue
        src, dst = who(smac, sip), who(dmac, dip)
        op = int.from_bytes(payload[:2], "big")
        client = smac if (op in (1, 2) or (sip, sport) in tftp_ports) else dmac
        if op in (1, 2):
            parts = payload[2:].split(b"\0")
            fname = parts[0].decode(errors="replace")
            tftp_ports.add((sip, sport))
            opts_text = " ".join(p.decode(errors="replace") for p in parts[2:] if p)
            arrows.append(Arrow(rel, src, dst, f"RRQ {fname} {opts_text}".strip(), "tftp",
                                client))
        elif op in (3, 4):
            key = (src, dst, "DATA" if op == 3 else "ACK")
            block = int.from_bytes(payload[2:4], "big")
            agg = transfer.get(key)
            if agg is None or rel - agg.t > 5.0 or block <= 1:
                agg = Arrow(rel, src, dst, f"{key[2]} #{block}", "tftp", client)
                transfer[key] = agg
                arrows.append(agg)
            else:
                first = agg.label.split("#")[1].split("-")[0]
                agg.label = f"{key[2]} #{first}-{block}"
        elif op == 5:
            msg = payload[4:].split(b"\0")[0].decode(errors="replace")
            code = int.from_bytes(payload[2:4], "big")
            arrows.append(Arrow(rel, src, dst, f"ERROR {code} {msg}".strip(), "tftp", client))
        elif op == 6:
            text = " ".join(p.decode(errors="replace") for p in payload[2:].split(b"\0") if p)
            arrows.append(Arrow(rel, src, dst, f"OACK {text}", "tftp", client))
    order = sorted({a.src for a in arrows} | {a.dst for a in arrows} - {"broadcast"},
                   key=lambda m: _order_key(names.get(m, m)))  # fmt: skip
    if any(a.dst == "broadcast" for a in arrows):
        order.append("broadcast")
    labels = [names.get(m, m) if m != "broadcast" else "broadcast" for m in order]
    index = {m: labels[i] for i, m in enumerate(order)}
    for a in arrows:
        a.src, a.dst = index.get(a.src, a.src), index.get(a.dst, a.dst)
        a.client = names.get(a.client, a.client)
    return labels, arrows


def _order_key(name: str) -> tuple[int, str]:
    parts = name.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return (0, "".join(f"{int(p):03}" for p in parts))
    return (1, name)


def ladders(pcap: Path) -> list[tuple[str, str]]:
    """One ladder per client (title, inline SVG): each client's DHCP and TFTP exchange."""
    participants, arrows = ladder_arrows(pcap)
    groups: dict[str, list[Arrow]] = {}
    for a in arrows:
        groups.setdefault(a.client or "other", []).append(a)
    out = []
    for client, mine in groups.items():
        used = {a.src for a in mine} | {a.dst for a in mine}
        out.append((f"client {client}", _ladder([p for p in participants if p in used], mine)))
    return out or [("capture", _ladder([], []))]


def ladder_svg(pcap: Path) -> str:
    """Every DHCP/TFTP packet of the capture as one ladder."""
    participants, arrows = ladder_arrows(pcap)
    return _ladder(participants, arrows)


def _ladder(participants: list[str], arrows: list[Arrow]) -> str:
    if not arrows:
        return "<p class=muted>no DHCP or TFTP packets captured</p>"
    shown = arrows[:MAX_ARROWS]
    col_w, row_h, top = 190, 18, 40
    width = col_w * len(participants) + 60
    height = top + row_h * (len(shown) + 1) + 10
    x = {p: 60 + col_w * i + col_w // 2 for i, p in enumerate(participants)}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="monospace" font-size="11">']  # fmt: skip
    for p, px in x.items():
        out.append(f'<text x="{px}" y="16" text-anchor="middle" font-weight="bold">'
                   f"{html.escape(p)}</text>")  # fmt: skip
        out.append(f'<line x1="{px}" y1="24" x2="{px}" y2="{height - 5}" stroke="#bbb"/>')
    colours = {"dhcp": "#1565c0", "proxy": "#6a1b9a", "tftp": "#2e7d32"}
    for i, a in enumerate(shown):
        y = top + row_h * i
        x1, x2 = x.get(a.src, 60), x.get(a.dst, 60)
        c = colours.get(a.kind, "#333")
        out.append(f'<text x="4" y="{y + 4}" fill="#777">{a.t:6.2f}s</text>')
        if x1 == x2:
            x2 = x1 + 30
        head = 6 if x2 > x1 else -6
        out.append(f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{c}"/>')
        out.append(f'<polygon points="{x2},{y} {x2 - head},{y - 3} {x2 - head},{y + 3}" '
                   f'fill="{c}"/>')  # fmt: skip
        mid = (x1 + x2) / 2
        out.append(f'<text x="{mid}" y="{y - 3}" text-anchor="middle" fill="{c}">'
                   f"{html.escape(a.label[:60])}</text>")  # fmt: skip
    if len(arrows) > len(shown):
        y = top + row_h * len(shown)
        out.append(f'<text x="4" y="{y}">... {len(arrows) - len(shown)} more</text>')
    out.append("</svg>")
    return "".join(out)


def timeline_svg(phases: Sequence[dict[str, Any]], scale_s: float) -> str:
    width, bar_h = 720, 16
    rows = list(phases)
    height = bar_h * len(rows) + 24
    px = (width - 150) / max(scale_s, 0.001)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">']  # fmt: skip
    for i, p in enumerate(rows):
        y = i * bar_h + 2
        name = str(p["name"])
        colour = PHASE_COLOURS.get(name.split()[-1], PHASE_COLOURS.get(name.split()[0], "#ffa726"))
        x0 = 150 + float(p["start_s"]) * px
        w = max(1.0, float(p["duration_s"]) * px)
        out.append(f'<text x="0" y="{y + 11}">{html.escape(name[:22])}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{bar_h - 3}" '
                   f'fill="{colour}"><title>{html.escape(name)}: {p["start_s"]} s + '
                   f'{p["duration_s"]} s</title></rect>')  # fmt: skip
        out.append(f'<text x="{x0 + w + 3:.1f}" y="{y + 11}" fill="#555">'
                   f'{float(p["duration_s"]):.2f}s</text>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)


_CSS = """
body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.pass{color:#2e7d32;font-weight:bold}.fail{color:#c62828;font-weight:bold}.muted{color:#888}
pre{background:#f5f5f5;padding:8px;overflow:auto;max-height:30em}
section{border-top:2px solid #ddd;margin-top:2em;padding-top:1em}
.ladder{overflow:auto;max-height:40em;border:1px solid #eee}
.shots{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0}figcaption{font-size:11px;color:#555;max-width:240px}
img.thumb{width:240px;border:1px solid #999;background:#000;display:block}
td img.thumb{width:160px}
"""


def _shots(result: Any) -> list[tuple[str, dict[str, Any]]]:
    """(client name, screenshot record) of every client of a result, in order."""
    return [(c.name, shot) for c in result.clients or []
            for shot in (c.details or {}).get("screenshots") or []
            if isinstance(shot, dict) and shot.get("path")]  # fmt: skip


def _thumb(href: str, caption: str, alt: str) -> str:
    h = html.escape(href, quote=True)
    return (f'<figure><a href="{h}"><img class=thumb src="{h}" alt="{html.escape(alt)}"></a>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")  # fmt: skip


def _client_thumbs(result: Any, rel: str) -> str:
    """The last picture of each client: what it ended on."""
    last: dict[str, dict[str, Any]] = {}
    for name, shot in _shots(result):
        last[name] = shot
    return "".join(_thumb(f"{rel}/{shot['path']}", name, f"{name}: {shot.get('step', '')}")
                   for name, shot in last.items())  # fmt: skip


def _step_thumbs(result: Any, rel: str) -> str:
    shots = _shots(result)
    if not shots:
        return "<p class=muted>no pictures</p>"
    return "<div class=shots>" + "".join(
        _thumb(f"{rel}/{shot['path']}", f"{name}: {shot.get('step', '')} ({shot.get('source')})",
               f"{name} {shot.get('step', '')}")
        for name, shot in shots
    ) + "</div>"  # fmt: skip


def _relative(folder: Path, root: Path) -> str:
    """The scenario folder as index.html links it: relative, so the report can move."""
    try:
        return Path(os.path.relpath(folder.resolve(), root.resolve())).as_posix()
    except ValueError:
        return folder.resolve().as_uri()


def write_index(report_root: Path, results: Sequence[Any]) -> Path:
    """index.html across every scenario in `report_root` (the results of this run)."""
    report_root.mkdir(parents=True, exist_ok=True)
    scale = max([float(r.duration_s or 0) for r in results] + [1.0])
    rows, sections = [], []
    for r in results:
        cls = "pass" if r.passed else "fail"
        ttm = f"{r.time_to_menu_s:.1f} s" if r.time_to_menu_s is not None else "-"
        anchor = html.escape(r.scenario)
        folder = Path(r.report_dir) if r.report_dir else report_root / r.scenario
        rel = _relative(folder, report_root)
        rows.append(
            f'<tr><td><a href="#{anchor}">{anchor}</a></td><td class={cls}>'
            f"{'passed' if r.passed else 'FAILED'}</td><td>{ttm}</td>"
            f"<td>{r.duration_s:.1f} s</td><td>{html.escape(r.reason or '')}</td>"
            f"<td><div class=shots>{_client_thumbs(r, rel)}</div></td></tr>"
        )
        screen = ""
        if (folder / "screen.txt").exists():
            screen = (folder / "screen.txt").read_text(errors="replace")
        links = " · ".join(
            f'<a href="{html.escape(rel)}/{n}">{n}</a>'
            for n in ("result.json", "console.log", "screen.txt", "events.jsonl", "capture.pcap")
        )
        ladder_html = "".join(
            f"<h4>{html.escape(title)}</h4><div class=ladder>{svg}</div>"
            for title, svg in ladders(folder / "capture.pcap")
        )
        failure = ""
        if not r.passed:
            failure = f"<h3>Failure</h3><pre>{html.escape(r.failure_text())}</pre>"
        sections.append(
            f'<section id="{anchor}"><h2>{anchor} <span class={cls}>'
            f"{'passed' if r.passed else 'FAILED'}</span></h2><p>{links}</p>{failure}"
            f"<h3>Screens</h3>{_step_thumbs(r, rel)}"
            f"<h3>Phases</h3>{timeline_svg(r.phases, scale)}"
            f"<h3>DHCP and TFTP on the wire</h3>{ladder_html}"
            f"<h3>Final screen</h3><pre>{html.escape(screen)}</pre></section>"
        )
    passed = sum(1 for r in results if r.passed)
    doc = (
        "<!doctype html><html><head><meta charset=utf-8><title>pxelab lab report</title>"
        f"<style>{_CSS}</style></head><body><h1>pxelab lab report</h1>"
        f"<p>{passed} of {len(results)} scenarios passed.</p>"
        "<table><tr><th>scenario</th><th>result</th><th>time to menu</th><th>time</th>"
        f"<th>reason</th><th>screen</th></tr>{''.join(rows)}</table>{''.join(sections)}</body></html>"
    )
    path = report_root / "index.html"
    path.write_text(doc)
    return path
