"""Simulated traffic sent through the ingest API the way the ClawTrace plugin sends it.

One envelope per `POST /v1/traces/events` with the bearer key and the `x-clawtrace-*` headers (or `--batch N`
envelopes per `POST /v1/traces/events/batch` as NDJSON), retrying 429 and 5xx with exponential backoff (honouring
`Retry-After`) and dropping an event on any other 4xx, as the plugin does. Standard-library HTTP on keep-alive
connections: the sender needs nothing the lakehouse does not already install.
"""

from __future__ import annotations

import dataclasses
import http.client
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from random import Random

import orjson

from clawtrace_pipelines.simulator.agents import build_agents, seeded
from clawtrace_pipelines.simulator.config import HOUR_MS
from clawtrace_pipelines.simulator.traffic import AgentTraffic

SINGLE_PATH = "/v1/traces/events"
BATCH_PATH = "/v1/traces/events/batch"


@dataclass(frozen=True)
class Envelope:
    event_id: str
    body: bytes  # the envelope's JSON


def plugin_envelopes(
    tenant_id: str, agent_id: str, *, traces: int, seed: int, start: datetime, hours: int
) -> Iterator[Envelope]:
    """The simulator's traffic of one agent (the observe key's), as envelopes, retried deliveries included."""
    agent = dataclasses.replace(build_agents(seed, 1, 1)[0], tenant_id=tenant_id, agent_id=agent_id)
    start_ms = int(start.timestamp() * 1000)
    traffic = AgentTraffic(agent, seeded(seed, "traffic", 0, 0), start_ms, start_ms + hours * HOUR_MS)
    prefix = b'{"schemaVersion":1,"agentId":"' + agent_id.encode() + b'","event":'
    for trace in traffic.traces(traces):
        for delivery in [*trace.deliveries, *trace.retries]:
            yield Envelope(delivery.event_id, prefix + delivery.event + b"}")


@dataclass
class SendReport:
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    dropped: int = 0  # events refused with a 4xx other than 429 (the plugin drops them)
    retries: int = 0
    failed: int = 0  # events still unsent after the last attempt
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


class IngestClient:
    """One keep-alive HTTP connection to the ingest API (not thread-safe: one per sending thread)."""

    def __init__(self, url: str, api_key: str, *, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.base = parts.path.rstrip("/")
        self.timeout = timeout
        self.auth = f"Bearer {api_key}"
        self._conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """POST once; raises OSError / http.client.HTTPException when the connection fails."""
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._conn = cls(self.host, self.port, timeout=self.timeout)
        try:
            self._conn.request("POST", self.base + path, body, {"authorization": self.auth, **headers})
            resp = self._conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def send_with_retries(
    client: IngestClient,
    path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    rng: Random,
    max_attempts: int = 8,
    base_delay_s: float = 0.1,
    max_delay_s: float = 5.0,
) -> tuple[int | None, bytes, int]:
    """POST with the plugin's policy; returns (last status or None, body, retries made)."""
    status: int | None = None
    data = b""
    for attempt in range(max_attempts):
        retry_after = None
        try:
            status, resp_headers, data = client.post(path, body, headers)
        except (OSError, http.client.HTTPException):
            status = None
        else:
            if status != 429 and status < 500:
                return status, data, attempt
            retry_after = resp_headers.get("retry-after")
        if attempt + 1 < max_attempts:
            delay = min(max_delay_s, base_delay_s * 2**attempt) * (0.5 + rng.random() / 2)
            if retry_after and retry_after.isdigit():
                delay = max(delay, float(retry_after))
            time.sleep(delay)
    return status, data, max_attempts - 1


def send(
    url: str,
    api_key: str,
    tenant_id: str,
    agent_id: str,
    envelopes: list[Envelope],
    *,
    batch: int = 0,
    concurrency: int = 4,
    max_attempts: int = 8,
) -> SendReport:
    """Send `envelopes` through the ingest API from `concurrency` threads (one per request, or `batch` per).

    Args:
        url: the API's base URL (`http://127.0.0.1:8000`).
        api_key, tenant_id, agent_id: from the observe key.
        envelopes: what to send, in order (threads take them in turn).
        batch: envelopes per batch request; 0 sends one per request, as the plugin does.
        concurrency: sending threads (the plugin has one per agent process).
        max_attempts: attempts per request before its events count as failed.

    Returns:
        Counts of requests, accepted, rejected, dropped and failed events, retries and statuses.
    """
    report = SendReport()
    lock = threading.Lock()
    chunks = [envelopes[i : i + batch] for i in range(0, len(envelopes), batch)] if batch else [[e] for e in envelopes]
    next_chunk = iter(range(len(chunks)))
    started = time.perf_counter()

    def worker(n: int) -> None:
        client = IngestClient(url, api_key)
        rng = Random(n)
        try:
            while True:
                with lock:
                    index = next(next_chunk, None)
                if index is None:
                    return
                chunk = chunks[index]
                if batch:
                    path, body = BATCH_PATH, b"\n".join(e.body for e in chunk) + b"\n"
                    headers = {"content-type": "application/x-ndjson", "x-clawtrace-tenant-id": tenant_id}
                else:
                    path, body = SINGLE_PATH, chunk[0].body
                    headers = {
                        "content-type": "application/json",
                        "x-clawtrace-event-id": chunk[0].event_id,
                        "x-clawtrace-tenant-id": tenant_id,
                        "x-clawtrace-agent-id": agent_id,
                    }
                status, data, retries = send_with_retries(
                    client, path, body, headers, rng=rng, max_attempts=max_attempts
                )
                _count(report, lock, status, data, retries, len(chunk))
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(max(1, concurrency))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _count(report: SendReport, lock: threading.Lock, status: int | None, data: bytes, retries: int, n: int) -> None:
    with lock:
        report.requests += 1
        report.retries += retries
        if status is not None:
            report.statuses[status] = report.statuses.get(status, 0) + 1
        if status == 202:
            result = orjson.loads(data)
            report.accepted += len(result["accepted"])
            report.rejected += len(result["rejected"])
        elif status is None or status == 429 or status >= 500:
            report.failed += n
        else:
            report.dropped += n
