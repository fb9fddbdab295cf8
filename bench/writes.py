"""P9: small writes against a peer on the same stack.

4 KiB creates and replaces through blindvault, 64 connections (wrk) writing for 64 users in
turn, against atuin's sync server (axum + sqlx, same PostgreSQL) storing a 4 KiB
client-encrypted record per request for 64 users the same way.
Also what one write costs: gateway CPU, PostgreSQL transactions (pg_stat_database) and
object-store requests, per write. Target: >= 1.5x the peer's record writes.
"""

import json
import os
import subprocess
import time
import urllib.request

from history import Api, vault_body
from measure import cpu_seconds, wrk
from services import CACHE, PG_URL, log

ATUIN_VERSION = "18.24.4"
ATUIN_ROOT = CACHE / f"atuin-{ATUIN_VERSION}"
ATUIN = ATUIN_ROOT / "bin" / "atuin-server"
USERS = 64
REPLACED_VAULTS = 8
ROUNDS = 3


def install_atuin():
    """Builds atuin's server from crates.io once per machine (about 10 minutes on 2 cores)."""
    if ATUIN.exists():
        return True
    log(f"installing atuin-server {ATUIN_VERSION} with cargo (once per machine)")
    env = dict(os.environ, CARGO_TARGET_DIR=str(CACHE / "atuin-build"))
    subprocess.run(["cargo", "install", "atuin-server", "--locked", "--version", ATUIN_VERSION,
                    "--root", str(ATUIN_ROOT)], check=True, env=env)
    return ATUIN.exists()


def transactions(psql_at):
    return int(psql_at("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"))


def writes(url, tokens, mode, seconds, proc, psql_at, extra=None, stop=None):
    """One wrk run of `mode`. `stop`, if given, stops the server before its database's
    transactions are counted (atuin's pool may hold every connection slot while it runs)."""
    env = {"BENCH_MODE": mode, "BENCH_TOKENS": ",".join(tokens), "BENCH_BYTES": "4096", "BENCH_RUN": str(time.time_ns()),
           "BENCH_VAULTS": str(REPLACED_VAULTS), **(extra or {})}
    cpu, xacts = cpu_seconds(proc.pid), transactions(psql_at)
    run = wrk(url, seconds, 64, script="writes.lua", env=env)
    done = run["requests"] - run["non_2xx"]
    if run["non_2xx"] or not done:
        raise RuntimeError(f"P9 {mode}: {run['non_2xx']} of {run['requests']} writes failed")
    run["cpu_ms_per_write"] = (cpu_seconds(proc.pid) - cpu) * 1000 / done
    if stop:
        stop()
    # pg_stat_database is updated when a backend reports, at most every second or so.
    time.sleep(1.5)
    run["db_transactions_per_write"] = (transactions(psql_at) - xacts) / done
    log(f"P9 {mode}: {run['rps']:.0f}/s, p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, "
        f"{run['cpu_ms_per_write']:.2f} ms CPU and {run['db_transactions_per_write']:.2f} transactions per write")
    return run


def atuin_session(url):
    body = json.dumps({"username": f"bench{time.time_ns()}", "email": f"b{time.time_ns()}@example.invalid",
                       "password": "correct horse battery staple"}).encode()
    req = urllib.request.Request(f"{url}/register", data=body, method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["session"]


def median_run(runs):
    """The run of median rate, with every round's rate beside it."""
    run = dict(sorted(runs, key=lambda r: r["rps"])[len(runs) // 2])
    run["rounds_rps"] = [round(r["rps"], 1) for r in runs]
    return run


def p9_small_writes(services, start_server, stop_servers, register, database, seconds, install):
    """P9: blindvault's 4 KiB creates and replaces vs atuin's 4 KiB record writes. blindvault
    gets 64 database connections, one per client (atuin's pool is fixed at 100). With atuin,
    ROUNDS rounds alternate between the two (each server stopped while the other runs: their
    pools together would pass PostgreSQL's 100 connections), and each side's median round is
    reported: one round of each measured after the other moved the ratio by a third."""
    have_atuin = install_atuin() if install else ATUIN.exists()
    if not have_atuin:
        log("P9: atuin-server is not installed (--quick does not build it): no baseline")
    atuin_db = services.new_database() if have_atuin else None

    def psql_at(sql, db=database):
        return subprocess.run(["psql", "-At", "-d", db, "-c", sql], capture_output=True, text=True,
                              check=True).stdout.strip()

    def until_disconnected(db):
        """Waits until no backend serves `db`: a stopped server's backends take a moment to go,
        and the next server's pool needs their slots."""
        name = db.rsplit("/", 1)[1]
        deadline = time.time() + 30
        while int(psql_at(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'", PG_URL)) > 0:
            if time.time() > deadline:
                raise RuntimeError(f"P9: {name} still has connections 30 s after its server stopped")
            time.sleep(0.2)

    runs = {"create": [], "replace": [], "atuin": []}
    for _ in range(ROUNDS if have_atuin else 1):
        proc, url = start_server("p9", {"BLINDVAULT_DATABASE_MAX_CONNECTIONS": str(USERS)})
        tokens = [register(url)["access_token"] for _ in range(USERS)]
        for token in tokens:
            api = Api(url, token)
            for n in range(REPLACED_VAULTS):
                api.call("POST", "/api/v1/vault", vault_body(4096, f"w{n}"))
        runs["create"].append(writes(url, tokens, "create", seconds, proc, psql_at))
        runs["replace"].append(writes(url, tokens, "replace", seconds, proc, psql_at))
        if not have_atuin:
            break
        stop_servers()
        until_disconnected(database)
        atuin, atuin_url = services.start_atuin(ATUIN, atuin_db)
        sessions = [atuin_session(atuin_url) for _ in range(USERS)]

        def stop_atuin():
            services.kill(atuin)
            until_disconnected(atuin_db)

        runs["atuin"].append(writes(atuin_url, sessions, "atuin", seconds, atuin,
                                    lambda sql: psql_at(sql, atuin_db), stop=stop_atuin))
    result = {"users": USERS, **{kind: median_run(r) for kind, r in runs.items() if r}}
    if not have_atuin:
        return result
    result["atuin"]["version"] = ATUIN_VERSION
    for kind in ("create", "replace"):
        result[f"{kind}_ratio"] = result[kind]["rps"] / result["atuin"]["rps"]
    log(f"P9: creates {result['create_ratio']:.2f}x, replaces {result['replace_ratio']:.2f}x atuin's record "
        f"writes (medians of {ROUNDS} alternating rounds)")
    return result
