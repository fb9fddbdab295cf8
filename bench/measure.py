"""The measurements P1-P5, each against the baseline of the same run."""

import os
import re
import statistics
import subprocess
import threading
import time
from pathlib import Path

from services import client, ensure_debian_tool, log, peak_rss_mib

HERE = Path(__file__).resolve().parent
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url, seconds, connections, headers=(), script=None, env=None):
    """Runs wrk; returns req/s, p50/p99 in ms, requests and non-2xx responses."""
    binary = ensure_debian_tool("wrk", "wrk")
    args = [binary, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for header in headers:
        args += ["-H", header]
    if script:
        args += ["-s", str(HERE / script)]
    out = subprocess.run(args + [url], capture_output=True, text=True, env=dict(os.environ, **(env or {})))
    text = out.stdout
    if out.returncode != 0 or "Requests/sec" not in text:
        raise RuntimeError(f"wrk failed: {text}{out.stderr}")

    def latency(pct):
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
        return float(value) * UNITS[unit]

    requests = int(re.search(r"(\d+) requests in", text).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "p50_ms": latency(50), "p99_ms": latency(99), "requests": requests,
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": errors.group(1).strip() if errors else None, "connections": connections}


def p1_streaming(bench, gateway, s3_args, size, concurrencies, reps, gateway_pid):
    """P1: streamed upload and download through blindvault vs straight to S3, and the
    gateway's CPU-seconds per GiB each way."""
    result = {"size_bytes": size, "runs": []}
    for concurrency in concurrencies:
        for rep in range(reps if concurrency == 1 else 1):
            # Alternate which goes first so that a warming disk or cache favours neither.
            order = ["s3", "gateway"] if rep % 2 == 0 else ["gateway", "s3"]
            row = {"concurrency": concurrency}
            for target in order:
                args = ["transfer", "--target", target, "--size", size, "--concurrency", concurrency,
                        "--prefix", f"p1-{target}-{concurrency}-{rep}-{int(time.time())}"]
                args += gateway + ["--cpu-pid", gateway_pid] if target == "gateway" else s3_args
                row[target] = client(bench, *args)
                log(f"P1 {target} x{concurrency}: up {row[target]['up_mb_s']:.0f} MB/s, "
                    f"down {row[target]['down_mb_s']:.0f} MB/s")
            for way in ("up", "down"):
                row[f"{way}_ratio"] = row["gateway"][f"{way}_mb_s"] / row["s3"][f"{way}_mb_s"]
            result["runs"].append(row)
    single = [r for r in result["runs"] if r["concurrency"] == 1]
    for way in ("up", "down"):
        result[f"{way}_ratio_median"] = statistics.median(r[f"{way}_ratio"] for r in single)
        result[f"{way}_cpu_s_per_gib"] = statistics.median(r["gateway"][f"{way}_cpu_s_per_gib"] for r in single)
    log(f"P1 gateway CPU per GiB: up {result['up_cpu_s_per_gib']:.2f} s, down {result['down_cpu_s_per_gib']:.2f} s")
    return result


def p2_memory(bench, start_server, small, large):
    """P2: peak RSS of a fresh replica after a small and then a large streamed upload."""
    proc, url = start_server("p2")
    user = client(bench, "login", "--url", url, "--username", f"p2-{int(time.time())}")
    gateway = ["--url", url, "--token", user["access_token"]]
    at_start = peak_rss_mib(proc.pid)
    client(bench, "transfer", "--target", "gateway", "--size", small, "--prefix", "p2-small",
           "--upload-only", *gateway)
    after_small = peak_rss_mib(proc.pid)
    client(bench, "transfer", "--target", "gateway", "--size", large, "--prefix", "p2-large",
           "--upload-only", *gateway)
    after_large = peak_rss_mib(proc.pid)
    log(f"P2 peak RSS: start {at_start:.0f} MiB, after {small >> 20} MiB {after_small:.0f} MiB, "
        f"after {large >> 20} MiB {after_large:.0f} MiB")
    return {"small_bytes": small, "large_bytes": large, "start_mib": at_start, "small_peak_mib": after_small,
            "large_peak_mib": after_large, "ratio": after_large / after_small}


def cpu_seconds(pid):
    """User plus system CPU seconds the process has used (Linux, USER_HZ = 100)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds():
    """CPU seconds every process on the machine has used, all cores together (/proc/stat)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def p3_small_reads(bench, url, token, miss_url, nginx_url, s3_args, seconds, gateway_pid):
    """P3: 4 KiB reads at 64 connections: nginx static file vs JSON and /content, cache hit and
    miss; and the same object read straight from S3, the floor under a miss. For cache hits,
    also the gateway's CPU per request."""
    auth = [f"Authorization: Bearer {token}"]
    runs = {"nginx": wrk(f"{nginx_url}/vault4k.bin", seconds, 64)}
    for name, base in (("hit", url), ("miss", miss_url)):
        for kind, path in (("json", "/api/v1/vault/small"), ("content", "/api/v1/vault/small/content")):
            before = cpu_seconds(gateway_pid)
            run = runs[f"{kind}_{name}"] = wrk(f"{base}{path}", seconds, 64, auth)
            if name == "hit":
                run["cpu_us_per_request"] = (cpu_seconds(gateway_pid) - before) * 1e6 / max(run["requests"], 1)
    runs["session"] = wrk(f"{url}/api/v1/auth/session", seconds, 64, auth)
    runs["s3_direct"] = client(bench, "s3-get", *s3_args, "--concurrency", 64, "--seconds", seconds)
    runs["s3_direct"]["non_2xx"] = runs["s3_direct"].pop("failures")
    for name, run in runs.items():
        if run["non_2xx"]:
            raise RuntimeError(f"P3 {name}: {run['non_2xx']} requests failed")
        run["ratio_to_nginx"] = run["rps"] / runs["nginx"]["rps"]
        cpu = f", {run['cpu_us_per_request']:.1f} us CPU each" if "cpu_us_per_request" in run else ""
        log(f"P3 {name}: {run['rps']:.0f} req/s, p50 {run['p50_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms, "
            f"non-2xx {run['non_2xx']}{cpu}")
    return runs


def p4_logins(bench, url, token, login_body, seconds, cores, gateway_pid):
    """P4: logins/s at saturation vs cores / one in-process hash, with vault reads alongside;
    and where the CPU went: the gateway's per login (of which Argon2 takes what one hash takes
    when all cores hash at once) and everything else on the machine (PostgreSQL, wrk)."""
    argon = client(bench, "argon2")
    bound = cores / argon["median_seconds"]
    hash_ms = cores * 1000 / argon["parallel_hashes_per_s"]

    def storm():
        gateway, machine = cpu_seconds(gateway_pid), machine_cpu_seconds()
        run = wrk(f"{url}/api/v1/auth/login", seconds, 8, script="login.lua", env={"BENCH_LOGIN_BODY": login_body})
        gateway, machine = cpu_seconds(gateway_pid) - gateway, machine_cpu_seconds() - machine
        logins = run["requests"] - run["non_2xx"]
        run["logins_per_s"] = logins / seconds
        run["gateway_cpu_ms_per_login"] = gateway * 1000 / max(logins, 1)
        run["gateway_cpu_ms_per_login_beside_argon2"] = run["gateway_cpu_ms_per_login"] - hash_ms
        run["other_cpu_ms_per_login"] = (machine - gateway) * 1000 / max(logins, 1)
        run["machine_busy_fraction"] = machine / (seconds * cores)
        log(f"P4 storm: {run['logins_per_s']:.1f} logins/s; per login {run['gateway_cpu_ms_per_login']:.2f} ms "
            f"gateway CPU ({hash_ms:.2f} ms of it one hash at full parallelism), "
            f"{run['other_cpu_ms_per_login']:.2f} ms elsewhere; machine {run['machine_busy_fraction']:.0%} busy")
        return run

    alone = storm()
    # Then the same storm with vault reads beside it at a steady 100 req/s (open loop, so a
    # stalled server shows up as latency rather than as fewer requests).
    reads = {}
    reader = threading.Thread(target=lambda: reads.update(client(
        bench, "paced-get", "--url", f"{url}/api/v1/vault/small", "--token", token, "--rate", 100,
        "--seconds", seconds)))
    reader.start()
    with_reads = storm()
    reader.join()
    log(f"P4 in-process Argon2 on {argon['parallel_threads']} threads at once: "
        f"{argon['parallel_hashes_per_s']:.1f} hashes/s")
    log(f"P4 logins: {alone['logins_per_s']:.1f}/s alone, {with_reads['logins_per_s']:.1f}/s with reads, "
        f"of a bound of {bound:.1f}/s ({cores} cores, one hash {argon['median_seconds'] * 1000:.1f} ms); "
        f"reads alongside p99 {reads['p99_ms']:.1f} ms, {reads['failures']} failed")
    return {"argon2": argon, "cores": cores, "bound_per_s": bound, "alone": alone, "with_reads": with_reads,
            "logins_per_s": alone["logins_per_s"], "ratio": alone["logins_per_s"] / bound,
            "ratio_with_reads": with_reads["logins_per_s"] / bound, "reads_alongside": reads,
            "ratio_to_parallel_in_process": alone["logins_per_s"] / argon["parallel_hashes_per_s"]}


def p5_writers(bench, url, token, seconds):
    """P5: 64 If-Match writers on one vault; the history must be linear."""
    result = client(bench, "writers", "--url", url, "--token", token, "--vault", f"p5-{int(time.time())}",
                    "--clients", 64, "--seconds", seconds)
    log(f"P5: {result['commits']} commits ({result['commits_per_s']:.0f}/s), {result['conflicts_412']} x 412, "
        f"{result['errors']} errors, linear history: {result['linear']}")
    return result
