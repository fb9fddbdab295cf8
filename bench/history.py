"""P8 and part of P7: what history and the change feed cost.

P8: a replace's latency on a vault with 1,000 retained earlier revisions against one with
none, sequential 4 KiB JSON writes on one keep-alive connection, alternating rounds so that
drift favours neither (goal: <= 1.1x).
P7 (second half): what idle change streams cost: resident memory per open `/api/v1/changes/stream`
connection with 1,000 of them open, and how long one write takes to reach all of them.
"""

import base64
import http.client
import json
import os
import selectors
import socket
import statistics
import time
from urllib.parse import urlparse

from services import log


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status").read().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Api:
    """One keep-alive connection to the server, with a bearer token."""

    def __init__(self, url, token):
        self.url = urlparse(url)
        self.token = token
        self.conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)

    def call(self, method, path, body=None, headers=None):
        head = {**({"authorization": f"Bearer {self.token}"} if self.token else {}), **(headers or {})}
        if body is not None:
            head["content-type"] = "application/json"
            body = json.dumps(body)
        try:
            self.conn.request(method, path, body=body, headers=head)
            resp = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closes a keep-alive connection idle past its header-read timeout.
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
            self.conn.request(method, path, body=body, headers=head)
            resp = self.conn.getresponse()
        data = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status} {data[:200]!r}")
        return json.loads(data) if data else None


def vault_body(size, vault_id=None):
    b64 = lambda n: base64.b64encode(os.urandom(n)).decode()  # noqa: E731
    body = {"ciphertext": b64(size), "iv": b64(12), "salt": b64(16)}
    if vault_id:
        body["vault_id"] = vault_id
    return body


def timed_replaces(api, vault_id, count, body):
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        api.call("PUT", f"/api/v1/vault/{vault_id}", body, {"if-match": "*"})
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def p8_history(url, token, revisions, writes, rounds=4):
    """P8: replace latency with `revisions` retained against none (the server keeps all)."""
    api = Api(url, token)
    body = vault_body(4096)
    deep = f"p8-deep-{int(time.time())}"
    api.call("POST", "/api/v1/vault", vault_body(4096, deep))
    for _ in range(revisions):
        api.call("PUT", f"/api/v1/vault/{deep}", body, {"if-match": "*"})
    listed = api.call("GET", f"/api/v1/vault/{deep}/revisions?limit=1000")
    assert len(listed["items"]) == min(revisions + 1, 1000), "every revision is retained"
    fresh, kept = [], []
    for r in range(rounds):
        # A new vault each round: its history grows from nothing over the round.
        shallow = f"p8-fresh-{int(time.time())}-{r}"
        api.call("POST", "/api/v1/vault", vault_body(4096, shallow))
        pair = [("fresh", shallow), ("kept", deep)] if r % 2 == 0 else [("kept", deep), ("fresh", shallow)]
        for kind, vault_id in pair:
            (fresh if kind == "fresh" else kept).extend(timed_replaces(api, vault_id, writes, body))
    p50 = {k: statistics.median(v) for k, v in (("none", fresh), ("kept", kept))}
    p99 = {k: statistics.quantiles(v, n=100)[98] for k, v in (("none", fresh), ("kept", kept))}
    ratio = p50["kept"] / p50["none"]
    log(f"P8 replace p50: {p50['none']:.2f} ms with no history, {p50['kept']:.2f} ms with {revisions} "
        f"retained ({ratio:.2f}x); p99 {p99['none']:.2f} / {p99['kept']:.2f} ms")
    return {"revisions": revisions, "writes_per_kind": writes * rounds, "p50_ms": p50, "p99_ms": p99,
            "ratio": ratio}


def answered(host, port, path, headers=""):
    """A new connection that sent `GET path` and read a 200's head; it stays open."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError(f"{path}: closed before its head")
        head += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{path} refused: {head[:100]!r}")
    return sock


def open_stream(host, port, token):
    sock = answered(host, port, "/api/v1/changes/stream",
                    f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n")
    sock.setblocking(False)
    return sock


def p7_idle_streams(start_server, login, streams):
    """P7: memory per idle change stream, and one write's fan-out to all of them."""
    proc, url = start_server("p7")
    token = login(url)
    target = urlparse(url)
    api = Api(url, token)
    api.call("POST", "/api/v1/vault", vault_body(64, "p7-warm"))
    time.sleep(1)
    before = rss_mib(proc.pid)
    socks = [open_stream(target.hostname, target.port, token) for _ in range(streams)]
    time.sleep(2)
    after = rss_mib(proc.pid)
    per_stream_kib = (after - before) * 1024 / streams
    selector = selectors.DefaultSelector()
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
    waiting = set(socks)
    started = time.perf_counter()
    api.call("PUT", "/api/v1/vault/p7-warm", vault_body(64), {"if-match": "*"})
    while waiting and time.perf_counter() - started < 30:
        for key, _ in selector.select(timeout=1):
            data = key.fileobj.recv(65536)
            if b"event: change" in data:
                waiting.discard(key.fileobj)
    fanout_ms = (time.perf_counter() - started) * 1000
    reached = streams - len(waiting)
    for sock in socks:
        sock.close()
    log(f"P7 {streams} idle streams: RSS {before:.1f} -> {after:.1f} MiB ({per_stream_kib:.1f} KiB each); "
        f"one write reached {reached} of them in {fanout_ms:.0f} ms")
    return {"streams": streams, "rss_before_mib": before, "rss_after_mib": after,
            "per_stream_kib": per_stream_kib, "fanout_ms": fanout_ms, "reached": reached}
