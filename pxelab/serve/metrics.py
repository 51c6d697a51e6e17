"""Prometheus metrics for `pxelab serve` (`--metrics ADDR:PORT`), counted from its events.

The proxy and the TFTP server already say what happened to every packet and transfer as
events (pxelab.serve.events); `MetricsEventLog` is an EventLog that counts each event before
writing it (to the --events file, if any), so the servers need no metrics code of their own:

    metrics = Metrics()
    events = MetricsEventLog(metrics, path_or_None)
    server = PxeServer(cfg, events=events, ...)
    metrics.watch_proxy(server.proxy)          # malformed packets: the servers' own counts
    metrics.watch_tftp(server.tftp)
    http = metrics.serve("127.0.0.1:9467")     # bind (before dropping privileges if < 1024)

Metrics (a private CollectorRegistry: nothing of the Python process or other libraries):
  pxelab_proxydhcp_offers_total{arch}          offers sent, by client architecture
  pxelab_proxydhcp_acks_total{arch}            acks sent (port 4011 and 67), by architecture
  pxelab_proxydhcp_ignored_total{reason}       requests not answered, by reason (addresses
                                               and file:line taken out to bound the labels)
  pxelab_proxydhcp_malformed_total             packets that did not decode
  pxelab_proxydhcp_rate_limited_total          packets dropped undecoded: their client was
                                               over its budget (a flood from one MAC)
  pxelab_tftp_malformed_total                  requests to the TFTP port that did not decode
  pxelab_tftp_transfers_started_total          read/write requests taken on
  pxelab_tftp_transfers_completed_total        files sent or received whole
  pxelab_tftp_transfers_failed_total{outcome}  not_found, denied, busy, failed, aborted
  pxelab_tftp_bytes_sent_total                 data bytes acknowledged (counted when a
                                               transfer ends, partial ones included)
  pxelab_tftp_transfers_in_flight              started and not ended yet
  pxelab_http_requests_total{status}           HTTP answers, by status (403: a refusal of
                                               the containment rule; 400/431: bad requests)
  pxelab_http_bytes_sent_total                 HTTP body bytes sent (sendfile's count)
  pxelab_http_transfers_in_flight              HTTP file bodies being sent
  pxelab_config_reloads_total{result}          SIGHUP reloads: applied / rejected
Every request the TFTP server takes on ends in exactly one outcome, so
started = completed + failed + in_flight.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import start_http_server

from pxelab.config.model import CSA_NAMES
from pxelab.serve.events import EventLog

_ADDR = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
_PAREN = re.compile(r"\s*\([^)]*\)")
MAX_REASONS = 64  # distinct ignore reasons kept as labels; later ones count as "other"


def arch_label(arch: Any) -> str:
    """Option 93 as a label: the PXE/RFC 4578 name, else the number (IANA's list stays below
    64; anything above is "other", so a client cannot create labels at will), else
    "unknown"."""
    if isinstance(arch, int):
        if 0 <= arch < len(CSA_NAMES):
            return CSA_NAMES[arch]
        return str(arch) if 0 <= arch < 64 else "other"
    return "unknown"


def reason_label(reason: Any) -> str:
    """An ignore reason without its variable parts (addresses, parenthesised details)."""
    text = _ADDR.sub("ADDR", _PAREN.sub("", str(reason or "unknown"))).strip()
    return text[:80] or "unknown"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.offers = Counter("pxelab_proxydhcp_offers", "proxyDHCP offers sent", ["arch"],
                              registry=r)
        self.acks = Counter("pxelab_proxydhcp_acks", "proxyDHCP acks sent", ["arch"],
                            registry=r)
        self.ignored = Counter("pxelab_proxydhcp_ignored", "DHCP requests not answered",
                               ["reason"], registry=r)
        self.started = Counter("pxelab_tftp_transfers_started", "TFTP requests taken on",
                               registry=r)
        self.completed = Counter("pxelab_tftp_transfers_completed",
                                 "TFTP transfers that moved the whole file", registry=r)
        self.failed = Counter("pxelab_tftp_transfers_failed",
                              "TFTP requests that ended without the whole file", ["outcome"],
                              registry=r)
        self.bytes_sent = Counter("pxelab_tftp_bytes_sent",
                                  "TFTP data bytes acknowledged by clients", registry=r)
        self.in_flight = Gauge("pxelab_tftp_transfers_in_flight",
                               "TFTP transfers started and not ended", registry=r)
        self.http_requests = Counter("pxelab_http_requests", "HTTP answers, by status",
                                     ["status"], registry=r)
        self.http_bytes = Counter("pxelab_http_bytes_sent", "HTTP body bytes sent", registry=r)
        self.http_in_flight = Gauge("pxelab_http_transfers_in_flight",
                                    "HTTP file bodies being sent", registry=r)
        self.reloads = Counter("pxelab_config_reloads", "configuration reloads (SIGHUP)",
                               ["result"], registry=r)
        self._reasons: set[str] = set()
        self._children: dict[tuple[str, Any], Any] = {}
        self._lock = threading.Lock()
        self._malformed: list[Callable[[], int]] = []
        self._tftp_malformed: list[Callable[[], int]] = []
        self._rate_limited: list[Callable[[], int]] = []
        r.register(_OwnCount("pxelab_proxydhcp_malformed", "DHCP packets that did not decode",
                             self._malformed))
        r.register(_OwnCount("pxelab_proxydhcp_rate_limited",
                             "DHCP packets dropped undecoded, their client over its rate",
                             self._rate_limited))
        r.register(_OwnCount("pxelab_tftp_malformed", "TFTP requests that did not decode",
                             self._tftp_malformed))

    # ------------------------------------------------------------ counting

    def event(self, service: str, event: str, fields: dict[str, Any]) -> None:
        """Count one event (called from the servers' threads; the client library locks)."""
        if service == "proxydhcp":
            if event == "offer" or event == "ack":
                # the labelled child, looked up once per (kind, arch): this runs per packet
                arch = fields.get("arch")
                if arch is not None and not (isinstance(arch, int) and 0 <= arch < 64):
                    arch = -1  # "other": the cache stays as small as the label set
                key = (event, arch)
                child = self._children.get(key)
                if child is None:
                    family = self.offers if event == "offer" else self.acks
                    child = self._children[key] = family.labels(arch_label(key[1]))
                child.inc()
            elif event == "ignored":
                self.ignored.labels(self._reason(fields.get("reason"))).inc()
        elif service == "tftp":
            if event == "request":
                self.started.inc()
                self.in_flight.inc()
            elif event == "transfer":
                outcome = str(fields.get("outcome"))
                self.in_flight.dec()
                if outcome in ("sent", "received"):
                    self.completed.inc()
                else:
                    self.failed.labels(outcome).inc()
                if not fields.get("write") and outcome != "received":
                    nbytes = fields.get("bytes") or 0
                    if isinstance(nbytes, int) and nbytes > 0:
                        self.bytes_sent.inc(nbytes)

        elif service == "http":
            if event == "request":
                self.http_in_flight.inc()
            elif event == "response":
                status = fields.get("status")
                label = str(status) if isinstance(status, int) and 100 <= status < 600 else "other"
                self.http_requests.labels(label).inc()
                nbytes = fields.get("bytes") or 0
                if isinstance(nbytes, int) and nbytes > 0:
                    self.http_bytes.inc(nbytes)
                if fields.get("transfer"):
                    self.http_in_flight.dec()

    def _reason(self, reason: Any) -> str:
        label = reason_label(reason)
        with self._lock:
            if label not in self._reasons:
                if len(self._reasons) >= MAX_REASONS:
                    return "other"
                self._reasons.add(label)
        return label

    def watch_proxy(self, proxy: Any) -> None:
        """Read the proxy's own counts of malformed and rate-limited packets at each scrape
        (a flood must cost a counter, not an event per packet)."""
        if proxy is not None and hasattr(proxy, "stats"):
            self._malformed.append(lambda: int(proxy.stats.get("malformed", 0)))
            self._rate_limited.append(lambda: int(proxy.stats.get("rate_limited", 0)))

    def watch_tftp(self, tftp: Any) -> None:
        """The same for requests to the TFTP port that do not decode."""
        if tftp is not None and hasattr(tftp, "stats"):
            self._tftp_malformed.append(lambda: int(tftp.stats.get("malformed", 0)))

    # ------------------------------------------------------------ exposing

    def serve(self, address: str) -> Any:
        """Serve /metrics on ADDR:PORT in a thread; returns the HTTP server (its
        `server_address` holds the bound port, `shutdown()` stops it)."""
        host, port = parse_address(address)
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    def text(self) -> str:
        from prometheus_client.exposition import generate_latest

        return generate_latest(self.registry).decode()


class _OwnCount:
    """A counter the servers keep themselves (packets they drop without an event)."""

    def __init__(self, name: str, text: str, sources: list[Callable[[], int]]) -> None:
        self.name, self.text = name, text
        self.sources = sources

    def collect(self) -> Iterator[CounterMetricFamily]:
        m = CounterMetricFamily(self.name, self.text)
        m.add_metric([], float(sum(src() for src in self.sources)))
        yield m

    def describe(self) -> Iterator[CounterMetricFamily]:
        return self.collect()


def parse_address(text: str) -> tuple[str, int]:
    """"ADDR:PORT" or ":PORT"/"PORT" (all addresses) -> (host, port); ValueError if wrong."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or "0.0.0.0"
    try:
        number = int(port, 10)
    except ValueError:
        raise ValueError(f"metrics address {text!r}: port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"metrics address {text!r}: port {number} out of range")
    return host, number


class MetricsEventLog(EventLog):
    """An EventLog that also counts: always `enabled`, so the servers emit every event."""

    def __init__(self, metrics: Metrics, path: str | Path | None = None, *,
                 stream: IO[str] | None = None) -> None:
        super().__init__(path, stream=stream)
        self.metrics = metrics

    @property
    def enabled(self) -> bool:
        return True

    def emit(self, service: str, event: str, **fields: Any) -> None:
        with contextlib.suppress(Exception):  # counting must never cost a packet its answer
            self.metrics.event(service, event, fields)
        super().emit(service, event, **fields)
