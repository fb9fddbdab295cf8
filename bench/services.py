"""The processes a benchmark run starts and stops: Garage (or moto, for --quick on a machine
without Garage), PostgreSQL databases, blindvault replicas and nginx."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("BLINDVAULT_CACHE_DIR", Path.home() / ".cache" / "blindvault"))
MOTO_VENV = CACHE / "venv-moto-5.2.5"
PG_URL = os.environ.get("BLINDVAULT_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


def log(msg):
    print(f"\033[1m[bench]\033[0m {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, seconds=60, proc=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {url}")


def ensure_debian_tool(command, package):
    if shutil.which(command):
        return shutil.which(command)
    log(f"installing {package} from Debian's packages")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, env=env, stdout=subprocess.DEVNULL)
    return shutil.which(command)


class Services:
    """Everything started in one run; `stop` ends it all, whatever happened."""

    def __init__(self, work):
        self.work = Path(work)
        self.procs = []
        self.databases = []
        self.s3 = None

    def spawn(self, args, log_name, env=None):
        out = open(self.work / log_name, "wb")
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, cwd=self.work)
        self.procs.append(proc)
        return proc

    def kill(self, proc):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def stop(self):
        for proc in reversed(self.procs):
            self.kill(proc)
        if self.s3 and self.s3.get("pid"):
            try:
                os.killpg(self.s3["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
        for name in self.databases:
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    # --- S3 -------------------------------------------------------------------------------
    def start_garage(self, install):
        script = ROOT / "scripts" / "garage"
        if subprocess.run([script, "binary"], capture_output=True).returncode != 0:
            if not install:
                return False
            subprocess.run([script, "install"], check=True)
        subprocess.run([script, "start", self.work / "garage"], check=True)
        env = dict(line.split("=", 1) for line in (self.work / "garage" / "env").read_text().split())
        version = subprocess.run([subprocess.run([script, "binary"], capture_output=True, text=True).stdout.strip(),
                                  "--version"], capture_output=True, text=True).stdout.strip()
        self.s3 = {"kind": "garage", "version": version, "pid": int(env["GARAGE_PID"]),
                   "endpoint": env["GARAGE_ENDPOINT"], "region": env["GARAGE_REGION"],
                   "bucket": env["GARAGE_BUCKET"], "key_id": env["GARAGE_KEY_ID"], "secret": env["GARAGE_SECRET"]}
        return True

    def start_moto(self):
        if not (MOTO_VENV / "bin" / "moto_server").exists():
            subprocess.run(["python3", "-m", "venv", MOTO_VENV], check=True)
            subprocess.run([MOTO_VENV / "bin" / "pip", "install", "-q", "moto[server]==5.2.5"], check=True)
        port = free_port()
        proc = self.spawn([MOTO_VENV / "bin" / "moto_server", "-H", "127.0.0.1", "-p", str(port)], "moto.log")
        endpoint = f"http://127.0.0.1:{port}"
        wait_http(f"{endpoint}/moto-api/", proc=proc)
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/bench", method="PUT"))
        self.s3 = {"kind": "moto", "version": "moto 5.2.5", "endpoint": endpoint, "region": "us-east-1",
                   "bucket": "bench", "key_id": "test", "secret": "test"}

    def s3_args(self):
        s = self.s3
        return ["--endpoint", s["endpoint"], "--region", s["region"], "--bucket", s["bucket"],
                "--key-id", s["key_id"], "--secret", s["secret"]]

    # --- blindvault -----------------------------------------------------------------------
    def new_database(self):
        name = f"bv_bench_{int(time.time())}_{len(self.databases)}"
        psql(f"CREATE DATABASE {name}")
        self.databases.append(name)
        return PG_URL.rsplit("/", 1)[0] + "/" + name

    def start_blindvault(self, binary, database_url, prefix, name, extra_env=None):
        port = free_port()
        s = self.s3
        env = dict(os.environ,
                   BLINDVAULT_LISTEN=f"127.0.0.1:{port}", BLINDVAULT_DATA_DIR=str(self.work / name),
                   BLINDVAULT_DATABASE_URL=database_url, BLINDVAULT_STORAGE_URL=f"s3://{s['bucket']}/{prefix}",
                   AWS_ENDPOINT_URL=s["endpoint"], AWS_REGION=s["region"], AWS_ALLOW_HTTP="true",
                   AWS_ACCESS_KEY_ID=s["key_id"], AWS_SECRET_ACCESS_KEY=s["secret"],
                   BLINDVAULT_JWT_SECRET="bench-secret-0123456789abcdef0123456789",
                   BLINDVAULT_SECRETS_KEY="YmVuY2gtc2VjcmV0cy1rZXktMDEyMzQ1Njc4OWFiY2Q=",
                   BLINDVAULT_ACCESS_TTL="4h", BLINDVAULT_DELETE_GRACE="1s", BLINDVAULT_SWEEP_INTERVAL="5s",
                   BLINDVAULT_LOG_FORMAT="json", RUST_LOG="warn", **(extra_env or {}))
        proc = self.spawn([binary, "serve"], f"{name}.log", env=env)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health/ready", proc=proc)
        return proc, url

    def start_atuin(self, binary, database_url):
        """atuin's sync server on its own database, open for registration."""
        port = free_port()
        (self.work / "atuin").mkdir(exist_ok=True)
        env = dict(os.environ, ATUIN_HOST="127.0.0.1", ATUIN_PORT=str(port), ATUIN_OPEN_REGISTRATION="true",
                   ATUIN_DB_URI=database_url, ATUIN_CONFIG_DIR=str(self.work / "atuin"), RUST_LOG="warn")
        proc = self.spawn([binary, "start"], "atuin.log", env=env)
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        return proc, f"http://127.0.0.1:{port}"

    def start_nginx(self, root):
        nginx = ensure_debian_tool("nginx", "nginx-light")
        port = free_port()
        conf = self.work / "nginx.conf"
        conf.write_text(f"""
worker_processes auto;
daemon off;
pid {self.work}/nginx.pid;
error_log {self.work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  client_body_temp_path {self.work}/nginx-body;
  proxy_temp_path {self.work}/nginx-proxy;
  fastcgi_temp_path {self.work}/nginx-fastcgi;
  uwsgi_temp_path {self.work}/nginx-uwsgi;
  scgi_temp_path {self.work}/nginx-scgi;
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
        proc = self.spawn([nginx, "-c", str(conf), "-p", str(self.work)], "nginx.log")
        wait_http(f"http://127.0.0.1:{port}/", proc=proc)
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        return f"http://127.0.0.1:{port}", version


def psql(sql):
    subprocess.run(["psql", "-q", "-d", PG_URL, "-c", sql], check=True, stdout=subprocess.DEVNULL)


def peak_rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def client(binary, *args):
    """Runs the bench client; returns its JSON."""
    out = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"bench client {args[0]} failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout)
