"""UEFI HTTP Boot as EDK2 does it, from inside a lab namespace, printing what happened as JSON.

    python -m tests.proxy.httpbootclient IFACE

The DHCP part is the scripted `edk2-http-x64` profile (byte-checked against the firmware's
capture): DISCOVER, offers collected for the first window, REQUEST of the address offer. The
offers are then typed as HttpBootDxe types them (HttpBootDhcp4.c, HttpBootParseDhcp4Packet) and
one is picked as HttpBootSelectDhcpOffer picks in a "corporate" network (no URI configured in
the firmware). Then the boot URL is fetched as the firmware fetches it: HEAD for the size, GET.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from ipaddress import IPv4Address
from pathlib import Path
from urllib.parse import urlsplit

from pxelab.client.dhcp import DhcpClient, Link
from pxelab.client.profile import load


def offer_type(rep) -> str:
    """EDK2's HTTP_BOOT_OFFER_TYPE name of one DHCPv4 offer, or "dropped"."""
    proxy = rep.yiaddr == "0.0.0.0"
    http = rep.vendor_class.encode()[:10] == b"HTTPClient"
    dns = 6 in rep.options
    uri = rep.options.get(67) or rep.file_field.split(b"\0")[0]
    if not http:
        return "dropped" if proxy else ("DhcpDns" if dns else "DhcpOnly")
    if not uri:
        return "dropped"  # "Http offer must have a boot URI"
    parts = urlsplit(uri.decode(errors="replace"))
    if not parts.scheme or not parts.hostname:
        return "dropped"
    try:
        IPv4Address(parts.hostname)
        ip = True
    except ValueError:
        ip = False
    if proxy:
        return "ProxyIpUri" if ip else "ProxyNameUri"
    return ("DhcpIpUri" if ip else "DhcpNameUri") + ("Dns" if dns else "")


def select(types: list[str]) -> tuple[int | None, int | None]:
    """HttpBootSelectDhcpOffer, corporate environment: (address offer, URI offer) indexes."""

    def first(t: str) -> int | None:
        return types.index(t) if t in types else None

    for t in ("DhcpIpUri", "DhcpIpUriDns", "DhcpNameUriDns"):
        if first(t) is not None:
            return first(t), first(t)
    for addr, uri in (
        ("DhcpOnly", "ProxyIpUri"),
        ("DhcpDns", "ProxyIpUri"),
        ("DhcpDns", "ProxyNameUri"),
        ("DhcpDns", "DhcpNameUri"),
    ):
        if first(addr) is not None and first(uri) is not None:
            return first(addr), first(uri)
    return None, None


def fetch(url: str) -> dict:
    out: dict = {"url": url}
    try:
        head = urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10)
        out["head_status"] = head.status
        out["content_length"] = head.headers.get("Content-Length")
        out["content_type"] = head.headers.get("Content-Type")
        body = urllib.request.urlopen(url, timeout=10).read()
        out["get_bytes"] = len(body)
        out["get_sha"] = __import__("hashlib").sha256(body).hexdigest()
    except (urllib.error.URLError, OSError) as exc:
        out["error"] = str(exc)
    return out


def main(iface: str) -> dict:
    mac = bytes.fromhex(
        Path(f"/sys/class/net/{iface}/address").read_text().strip().replace(":", "")
    )
    link = Link(iface, mac)
    try:
        client = DhcpClient(
            link,
            load("edk2-http-x64"),
            arch=16,
            uuid=bytes(16),
            log=lambda *a: None,
            deadline=time.monotonic() + 20,
        )
        offers = client.discover()
        types = [offer_type(o.reply) for o in offers]
        result: dict = {
            "offers": [
                {
                    "server": o.server,
                    "yiaddr": o.reply.yiaddr,
                    "type": t,
                    "vendor_class": o.reply.vendor_class,
                    "file": client.boot_file(o.reply),
                    "hex": o.reply.raw.hex(),
                }
                for o, t in zip(offers, types, strict=True)
            ],
        }
        addr, uri = select(types)
        result["selected"] = [addr, uri]
        if addr is None or uri is None:
            return result
        ack = client.request(offers[addr])
        result["ack_from"] = ack.server_id
        result["http"] = fetch(client.boot_file(offers[uri].reply))
        return result
    finally:
        link.close()


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
