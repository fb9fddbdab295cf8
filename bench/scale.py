"""P6: whether cost grows with the data.

Vaults: one user holding 1,000 vaults and one holding 1,000,000 (seeded straight into
PostgreSQL from a real vault: every seeded row names the template's object, so they are only
listed and counted, never replaced). Measured for each: the first and the last page of the
listing (100 per page), a vault read, a 4 KiB replace and a 4 KiB create, with the
deployment's default (no quota) and again on a replica enforcing a quota (which must count
what the user holds at every commit). Target: each within 1.2x of the 1,000-vault user.

Users: login (Argon2-bound, so also prelogin, which is not) and a vault read with 1,000
accounts in one database and 1,000,000 in another, each behind its own replica. Target:
within 1.2x. Every comparison alternates rounds between the two sides, so that drift favours
neither.

The plans PostgreSQL chose for the listing and the usage query at full size are kept in the
results.
"""

import base64
import statistics
import subprocess
import time

from history import Api, vault_body
from services import log

SAMPLES = 200


def psql(url, sql):
    out = subprocess.run(["psql", "-q", "-At", "-d", url, "-c", sql], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed: {out.stderr.strip()}")
    return out.stdout.strip()


def columns(url, table):
    return psql(url, f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' "
                     "AND table_schema = current_schema() ORDER BY ordinal_position").split("\n")


def copy_rows(url, table, where, overrides, count):
    """Inserts `count` copies of the row `where` selects, with `overrides` (SQL over `g`, the
    copy's number) in place of some columns."""
    cols = columns(url, table)
    select = ", ".join(overrides.get(c, f"t.{c}") for c in cols)
    started = time.perf_counter()
    psql(url, f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} FROM {table} t, "
              f"generate_series(1, {count}) g WHERE {where}")
    # Settled before measuring: statistics current, dead rows gone, the log checkpointed (a
    # checkpoint running in the background would slow every commit measured next).
    psql(url, f"VACUUM ANALYZE {table}")
    psql(url, "CHECKPOINT")
    log(f"P6 seeded {count:,} {table} rows in {time.perf_counter() - started:.1f} s")


def cursor_after(vault_id):
    return base64.urlsafe_b64encode(vault_id.encode()).decode().rstrip("=")


def median_ms(action, samples=SAMPLES):
    return statistics.median(timings_ms(action, samples))


def timings_ms(action, samples):
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def operations(api, count, label):
    """The operations P6 compares, on a user holding `count` vaults named s0000001...; new
    vaults are named after `label`."""
    last = f"s{count - 100:07d}"
    body = vault_body(4096)
    made = iter(range(10**9))
    page = api.call("GET", f"/api/v1/vault?limit=100&cursor={cursor_after(last)}")
    assert len(page["items"]) == 100, "the last page is full (99 seeded vaults and `template`)"
    return {
        "list_first": lambda: api.call("GET", "/api/v1/vault?limit=100"),
        "list_last": lambda: api.call("GET", f"/api/v1/vault?limit=100&cursor={cursor_after(last)}"),
        "read": lambda: api.call("GET", "/api/v1/vault/real"),
        "replace": lambda: api.call("PUT", "/api/v1/vault/real", body, {"if-match": "*"}),
        "create": lambda: api.call("POST", "/api/v1/vault", {**body, "vault_id": f"n-{label}-{next(made)}"}),
    }


def compared(small, large, rounds=4):
    """Median ms of each operation for both users, in alternating rounds so that drift (a
    checkpoint, another process) favours neither."""
    times = {side: {op: [] for op in small} for side in ("small", "large")}
    for r in range(rounds):
        for op in small:
            pair = [("small", small), ("large", large)] if r % 2 == 0 else [("large", large), ("small", small)]
            for side, ops in pair:
                times[side][op] += timings_ms(ops[op], SAMPLES // rounds)
    return {side: {f"{op}_ms": statistics.median(t) for op, t in ops.items()} for side, ops in times.items()}


def seeded_user(url, register, database, count):
    """A user with one real vault `template`, `count - 1` copies of it, and a real vault `real`."""
    token = register(url)["access_token"]
    api = Api(url, token)
    user_id = api.call("GET", "/api/v1/auth/session")["user_id"]
    api.call("POST", "/api/v1/vault", vault_body(4096, "template"))
    api.call("POST", "/api/v1/vault", vault_body(4096, "real"))
    copy_rows(database, "vaults", f"t.user_id = '{user_id}' AND t.vault_id = 'template'",
              {"vault_id": "'s' || lpad(g::text, 7, '0')", "uid": "gen_random_uuid()"}, count - 1)
    return token, user_id


def ratios(small, large):
    return {k: large[k] / small[k] for k in small}


def p6_scale(start_server, start_on, new_database, register, database, vaults, users):
    """P6: vault operations for a user with `vaults[0]` vs `vaults[1]` vaults; login and read
    with `users[0]` vs `users[1]` accounts."""
    _, url = start_server("scale")
    _, quota_url = start_server("scale-quota", {"BLINDVAULT_QUOTA_VAULTS": "100000000",
                                                "BLINDVAULT_QUOTA_BYTES": str(1 << 50)})
    (small_token, _), (large_token, large_id) = (seeded_user(url, register, database, n) for n in vaults)
    result = {"vaults": list(vaults), "vault_ratios": {}}
    for kind, server in (("default", url), ("quota", quota_url)):
        small = operations(Api(server, small_token), vaults[0], kind)
        large = operations(Api(server, large_token), vaults[1], kind)
        result[kind] = compared(small, large)
        result["vault_ratios"][kind] = ratios(result[kind]["small"], result[kind]["large"])
        log(f"P6 {vaults[1]:,} vs {vaults[0]:,} vaults ({kind}): "
            + ", ".join(f"{op} {r:.2f}x" for op, r in result["vault_ratios"][kind].items()))
    result["plans"] = {
        "list_last": psql(database, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM vaults "
                                    f"WHERE user_id = '{large_id}' AND vault_id > 's{vaults[1] - 100:07d}' "
                                    "ORDER BY vault_id LIMIT 101"),
        "usage": psql(database, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT bytes, vaults "
                                f"FROM user_usage WHERE user_id = '{large_id}'"),
    }
    result["users"] = user_costs(start_on, new_database, register, users)
    return result


def user_costs(start_on, new_database, register, users):
    """Login, prelogin and a read with `users[0]` accounts in one database and `users[1]` in
    another, each behind its own replica, measured in alternating rounds."""
    sides = {}
    for count in users:
        database = new_database()
        _, url = start_on(database, f"users-{count}")
        user = register(url)
        api = Api(url, user["access_token"])
        me = api.call("GET", "/api/v1/auth/session")
        api.call("POST", "/api/v1/vault", vault_body(4096, "mine"))
        copy_rows(database, "users", f"t.id = '{me['user_id']}'",
                  {"id": "gen_random_uuid()", "username": "'seed-' || g"}, count - 1)
        anonymous, body, name = Api(url, None), user["login_body"], me["username"]
        sides[count] = {
            "login": lambda anonymous=anonymous, body=body: anonymous.call("POST", "/api/v1/auth/login", body),
            "prelogin": lambda anonymous=anonymous, name=name: anonymous.call(
                "POST", "/api/v1/auth/prelogin", {"username": name}),
            "read": lambda api=api: api.call("GET", "/api/v1/vault/mine"),
        }
    measured = compared(sides[users[0]], sides[users[1]])
    out = {users[0]: measured["small"], users[1]: measured["large"]}
    out["ratios"] = ratios(measured["small"], measured["large"])
    log(f"P6 {users[1]:,} vs {users[0]:,} users: " + ", ".join(f"{op} {r:.2f}x" for op, r in out["ratios"].items()))
    return out
