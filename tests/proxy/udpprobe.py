"""Send DHCP requests from inside a namespace and print every reply as JSON (a test client).

    python -m tests.proxy.udpprobe CASES.json   # [{"name", "hex", "dest", "port", "bind",
                                                #   "wait"}] -> [{"name", "replies": [...]}]
Each case: a socket bound to ("", bind) on eth0 with SO_BROADCAST sends the bytes to
(dest, port) and collects what arrives on that socket for `wait` seconds (stopping early
`settle` seconds after the first reply).
"""

from __future__ import annotations

import json
import select
import socket
import sys
import time


def run_case(case: dict) -> list[dict]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, 25, case.get("iface", "eth0").encode())  # SO_BINDTODEVICE
    s.bind(("", case["bind"]))
    s.sendto(bytes.fromhex(case["hex"]), (case["dest"], case["port"]))
    out = []
    end = time.monotonic() + case.get("wait", 1.0)
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            break
        data, src = s.recvfrom(4096)
        out.append({"src": src[0], "sport": src[1], "hex": data.hex()})
        end = min(end, time.monotonic() + case.get("settle", 0.3))
    s.close()
    return out


def main() -> int:
    cases = json.load(open(sys.argv[1]))  # noqa: SIM115
    print(json.dumps([{"name": c["name"], "replies": run_case(c)} for c in cases]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
