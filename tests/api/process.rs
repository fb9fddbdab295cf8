//! The real `blindvault` binary as a subprocess: a server on either deployment, and the CLI.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{CHEAP_ARGON2, Deployment};

/// A `blindvault serve` process, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The flags it runs with (storage included).
    pub args: Vec<String>,
    /// Its stderr (the logs).
    pub log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(secret) = token_in(&log) {
                panic!("the server logged something token-shaped: {secret}");
            }
        }
    }
}

/// The first JWT-shaped string (`eyJ…`, three base64url segments) in `log`. Every server
/// process a test starts is scanned when it goes away, whatever the test did with it.
pub fn token_in(log: &str) -> Option<&str> {
    let b64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    log.match_indices("eyJ").find_map(|(at, _)| {
        let candidate = &log[at..];
        let end = candidate.find(|c: char| !b64url(c) && c != '.').unwrap_or(candidate.len());
        let jwt = &candidate[..end];
        let segments: Vec<&str> = jwt.split('.').collect();
        (segments.len() == 3 && segments.iter().all(|s| s.len() >= 10)).then_some(jwt)
    })
}

impl Server {
    /// Starts a server with fresh storage under `dir`, logging at `log_level` into `dir/server.log`.
    pub async fn start(d: &Deployment, dir: &Path, log_level: &str) -> Self {
        Self::start_with(d, dir, log_level, &[]).await
    }

    /// [`Server::start`] with extra flags.
    pub async fn start_with(d: &Deployment, dir: &Path, log_level: &str, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut args = d.fresh_storage(dir).await;
        args.extend(["--listen".to_owned(), format!("127.0.0.1:{port}")]);
        args.extend(CHEAP_ARGON2.map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(args, dir, log_level, port).await
    }

    /// Starts a server again with the flags of an earlier one (same storage, same port).
    pub async fn restart(args: &[String], dir: &Path) -> Self {
        let listen =
            args.iter().position(|a| a == "--listen").map(|i| args[i + 1].clone()).expect("--listen");
        let port = listen.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
        Self::spawn(args.to_vec(), dir, "info", port).await
    }

    async fn spawn(args: Vec<String>, dir: &Path, log_level: &str, port: u16) -> Self {
        let log = dir.join(format!("server-{}.log", uuid::Uuid::new_v4().simple()));
        let child = Command::new(env!("CARGO_BIN_EXE_blindvault"))
            .arg("serve")
            .args(&args)
            .env("BLINDVAULT_LOG_FORMAT", "json")
            .env("RUST_LOG", log_level)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start blindvault");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, url: format!("http://127.0.0.1:{port}"), args, log }
    }

    /// Peak resident memory of the server process so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        peak_rss(self.child.id())
    }

    /// Registers a new random user over HTTP and returns an access token with every scope.
    pub async fn new_user_token(&self) -> String {
        let client = reqwest::Client::new();
        let creds = crate::helpers::Creds::random();
        let resp = client
            .post(format!("{}/api/v1/auth/register", self.url))
            .json(&creds.register_body())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
        let tokens: serde_json::Value = client
            .post(format!("{}/api/v1/auth/login", self.url))
            .json(&creds.login_body())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens["access_token"].as_str().unwrap().to_owned()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it with SIGKILL (a crash) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it with SIGTERM (as an orchestrator would) and waits for it to exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("wait for the server")
    }

    /// The value of flag `name` it was started with.
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.args.iter().position(|a| a == name).map(|i| self.args[i + 1].as_str())
    }
}

/// Peak resident memory of process `pid`, in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("number");
    kib * 1024
}

/// One machine running the CLI: its own config dir, talking to one server.
pub struct Cli {
    /// Server URL.
    pub server: String,
    /// `BLINDVAULT_CONFIG_DIR`.
    pub config: PathBuf,
}

impl Cli {
    /// A CLI with a fresh config dir under `dir`.
    pub fn new(server: &str, dir: &Path, name: &str) -> Self {
        Self { server: server.to_owned(), config: dir.join(name) }
    }

    /// Runs `blindvault args...` with `password` in `BLINDVAULT_PASSWORD`.
    pub fn run(&self, password: &str, args: &[&str]) -> Output {
        self.run_with(&[("BLINDVAULT_PASSWORD", password)], args)
    }

    /// Runs `blindvault args...` with extra environment.
    pub fn run_with(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        self.command(env, args).output().expect("run the CLI")
    }

    /// The command `blindvault args...` with extra environment, to spawn.
    pub fn command(&self, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_blindvault"));
        cmd.args(args).env("BLINDVAULT_SERVER", &self.server).env("BLINDVAULT_CONFIG_DIR", &self.config);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, password: &str, args: &[&str]) -> Vec<u8> {
        let out = self.run(password, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }
}

#[test]
fn the_log_scan_finds_tokens() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWJ5dGVz";
    assert_eq!(token_in(&format!("{{\"msg\":\"authorization: Bearer {jwt}\"}}")), Some(jwt));
    assert_eq!(token_in("eyJ is how a JSON object starts in base64"), None);
    assert_eq!(token_in("{\"level\":\"INFO\",\"fields\":{\"message\":\"login\"}}"), None);
}
