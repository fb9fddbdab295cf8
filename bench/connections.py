"""P7: what idle keep-alive connections cost.

10,000 connections each make one request (`GET /health`) and then sit idle, kept open; the
gateway's resident memory is read before and after, and vault reads at 100/s run beside them
(open loop, latency counted from the scheduled send). The replica runs with a header-read
timeout longer than the measurement, since by default (10 s) an idle connection is closed.
"""

import resource
import time
from urllib.parse import urlparse

from history import answered, rss_mib
from services import client, log


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def still_open(sock):
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def p7_idle_connections(bench, start_server, register, count, seconds):
    """P7: RSS per idle keep-alive connection, and reads' p99 beside `count` of them."""
    limit = raise_fd_limit(count + 1024)
    if limit < count + 256:
        raise RuntimeError(f"P7 needs {count + 256} file descriptors; the limit is {limit}")
    proc, url = start_server("p7-idle", {"BLINDVAULT_HEADER_READ_TIMEOUT": "600s"})
    token = register(url)["access_token"]
    client(bench, "seed", "--url", url, "--token", token, "--vault", "small", "--bytes", 4096)
    target = urlparse(url)
    baseline = client(bench, "paced-get", "--url", f"{url}/api/v1/vault/small", "--token", token,
                      "--rate", 100, "--seconds", seconds)
    time.sleep(1)
    before = rss_mib(proc.pid)
    started = time.perf_counter()
    socks = [answered(target.hostname, target.port, "/health") for _ in range(count)]
    opened_s = time.perf_counter() - started
    time.sleep(2)
    after = rss_mib(proc.pid)
    beside = client(bench, "paced-get", "--url", f"{url}/api/v1/vault/small", "--token", token,
                    "--rate", 100, "--seconds", seconds)
    alive = sum(still_open(s) for s in socks)
    for sock in socks:
        sock.close()
    per_conn_kib = (after - before) * 1024 / count
    log(f"P7 {count} idle connections (opened in {opened_s:.1f} s): RSS {before:.1f} -> {after:.1f} MiB "
        f"({per_conn_kib:.1f} KiB each); reads beside them p99 {beside['p99_ms']:.1f} ms "
        f"(alone {baseline['p99_ms']:.1f} ms), {beside['failures']} failed; {alive} still open")
    return {"connections": count, "rss_before_mib": before, "rss_after_mib": after, "per_conn_kib": per_conn_kib,
            "reads_alone": baseline, "reads_beside": beside, "still_open": alive, "open_seconds": opened_s}
