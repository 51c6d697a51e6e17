"""The probe's result as text for a person, or as one JSON object for a program.

JSON (stable; the lab's scenario runner reads it) -- keys always present:

    ok          true when the chain reached a PXELINUX menu, a booted file or a local-boot item
    failure     null, or {"link": "dhcp"|"proxy"|"boot-server"|"tftp"|"nbp"|"pxelinux",
                "message": str}  ("nbp": the boot file is for another architecture)
    reached     "menu" | "kernel" | "boot-file" | "local-boot" | ""
    profile, interface, mac, arch, uuid (null when the client sent no option 97)
    offers      [{server, port, kind: "dhcp"|"proxy", class: "dhcp"|"dhcp+pxe"|"proxy"|"bootp",
                  pxe, yiaddr, siaddr, sname, file, options: {"<code>": value,
                  "43": {discovery_control, boot_servers, menu, prompt, ...}}, ignored, t}]
    address, netmask, router, dhcp_server
    proxy       null or {server, kind, pxe, menu: [text], prompt, prompt_timeout}
    boot_server, boot_file, boot_path (how the file was obtained)
    tftp        [{file, server, found, bytes, tsize, size_ok, options_sent, options_acked,
                  unrequested, error, seconds}] in request order (NBP, then PXELINUX's)
    tftp_probe  null or {file, server, answer: "oack"|"error"|"data"|"timeout", tsize, ...}
    pxelinux    {search: [{path, found}], prefix, core, config_file, includes, modules,
                 warnings, selected: null | {label, kind, append, files: [{role, path, found,
                 bytes, tsize, size_ok}]}}
    menu        null or {title, entries: [{label, text, hidden, kind, kernel, initrds,
                 append}], default, prompt, timeout, ui}
    menu_at     seconds from start until the menu was parsed (null if no menu); elapsed: total
    timeline    [{t: seconds since start, phase: "start"|"dhcp"|"pxe"|"net"|"tftp"|"pxelinux"|
                  "menu"|"fail", event}]; exactly one "menu" event, when the menu is reached
"""

from __future__ import annotations

import json
from typing import Any


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, sort_keys=False, default=str)


def to_text(r: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    add(f"pxelab probe on {r['interface']}: profile {r['profile']}, MAC {r['mac']}, "
        f"arch {r['arch']}, UUID {r['uuid'] or '(none)'}")
    add("")
    add(f"DHCP servers that answered: {len(r['offers'])}")
    for o in r["offers"]:
        what = f"offers {o['yiaddr']}" if o["kind"] == "dhcp" else "proxy offer (no address)"
        extra = []
        if o.get("file"):
            extra.append(f"file {o['file']!r}")
        if o["options"].get("60"):
            extra.append(f"class {o['options']['60']!r}")
        if o.get("ignored"):
            extra.append(f"IGNORED: {o['ignored']}")
        add(f"  {o['server']:<15} {o['class']:<9} {what}" + (f"; {'; '.join(extra)}" if extra
                                                               else ""))
    if r["address"]:
        add(f"address: {r['address']} netmask {r['netmask']} router {r['router']} "
            f"(from {r['dhcp_server']})")
    p = r.get("proxy")
    if p:
        add(f"proxy: {p['server']} ({p['kind']})")
        if p.get("prompt"):
            add(f"  prompt: {p['prompt']!r} ({p['prompt_timeout']} s)")
        for i, item in enumerate(p.get("menu") or [], 1):
            add(f"  PXE menu {i}: {item}")
    if r["boot_file"]:
        add(f"boot file: {r['boot_file']} on {r['boot_server']} via {r['boot_path']}")
    if r.get("tftp_probe"):
        t = r["tftp_probe"]
        add(f"TFTP size probe: {t['answer']}, tsize {t['tsize']}")
    add("TFTP:")
    for f in r["tftp"]:
        state = f"{f['bytes']} bytes" if f["found"] else f"NOT FOUND ({f['error']})"
        add(f"  {f['file']}: {state}")
    search = (r.get("pxelinux") or {}).get("search") or []
    if search:
        add("PXELINUX config search:")
        for s in search:
            add(f"  {s['path']}: {'found' if s['found'] else 'not found'}")
    m = r.get("menu")
    if m:
        add(f"menu: {m['title']!r} (default {m['default']})")
        for e in m["entries"]:
            add(f"  {e['label']:<20} {e['text']}" + ("  [hidden]" if e["hidden"] else ""))
    sel = (r.get("pxelinux") or {}).get("selected")
    if sel:
        add(f"selected {sel['label']}: " + ", ".join(
            f"{f['role']} {f['path']} {f['bytes']} bytes" for f in sel["files"]))
    add("timeline:")
    for ev in r["timeline"]:
        add(f"  {ev['t']:8.3f}  {ev['phase']:<9} {ev['event']}")
    add("")
    if r["ok"]:
        add(f"OK: reached {r['reached']}")
    else:
        f = r["failure"] or {}
        add(f"FAILED at {f.get('link')}: {f.get('message')}")
    return "\n".join(lines)
