//! Clients that go away at random moments in the middle of vault writes and logins, on a pool
//! small enough that a connection poisoned by a cut-off `BEGIN` would be handed out again:
//! afterwards the database holds no transaction open, Postgres never complained about one,
//! every acknowledged write reads back, and nothing half-done is visible.

use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Creds, Deployment, b64, on_both_deployments};
use crate::process::Server;
use crate::vaults_json::vault_body;

on_both_deployments!(clients_leaving_at_random_cut_no_database_work_in_half);

const WORKERS: usize = 8;
const OPS_PER_WORKER: usize = 40;
/// A request's typical duration before any was measured; clients give up after a random delay
/// below twice the typical duration of its kind (login or write) as measured so far, so that
/// about half of the impatient ones are cut mid-work on a slow machine and a fast one alike
/// (one request in four waits for its answer).
const FIRST_TYPICAL: Duration = Duration::from_millis(20);

/// One user's vault, written by one worker at a time so that its final state is known.
struct Worker {
    url: String,
    client: reqwest::Client,
    creds: Creds,
    token: String,
    vault: String,
}

impl Worker {
    fn call(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token)
    }

    /// The vault's etag, or `None` when it does not exist.
    async fn etag(&self) -> Option<String> {
        let resp = self.call(Method::GET, &format!("/api/v1/vault/{}", self.vault)).send().await.unwrap();
        match resp.status() {
            StatusCode::OK => Some(resp.headers()["etag"].to_str().unwrap().to_owned()),
            StatusCode::NOT_FOUND => None,
            other => panic!("GET answered {other}: {}", resp.text().await.unwrap_or_default()),
        }
    }

    /// Creates or replaces the vault with `content`, or deletes it, or logs in.
    fn write(&self, etag: Option<&str>, content: &[u8], choice: u32) -> RequestBuilder {
        let path = format!("/api/v1/vault/{}", self.vault);
        match (choice % 4, etag) {
            (0, _) => {
                self.client.post(format!("{}/api/v1/auth/login", self.url)).json(&self.creds.login_body())
            }
            (1, Some(etag)) => self.call(Method::DELETE, &path).header("if-match", etag),
            (_, Some(etag)) => self.call(Method::PUT, &path).header("if-match", etag).json(&json!({
                "ciphertext": b64(content), "iv": b64(&[3u8; 12]), "salt": b64(&[4u8; 16])
            })),
            (_, None) => self.call(Method::POST, "/api/v1/vault").json(&vault_body(&self.vault, content)),
        }
    }

    /// Writes at random, giving up on most requests at a random moment; ends with a write it
    /// waits for, and returns that write's content.
    async fn run(self, seed: u64) -> (Self, Vec<u8>, usize) {
        let mut given_up = 0;
        // Typical durations of logins and of writes, from the requests that were answered.
        let mut typical = [FIRST_TYPICAL; 2];
        for op in 0..OPS_PER_WORKER {
            let content = format!("{} {seed} {op}", self.vault).into_bytes();
            let choice = rand::rng().random::<u32>();
            let kind = usize::from(choice % 4 != 0);
            let patience = {
                let mut rng = rand::rng();
                match rng.random_ratio(1, 4) {
                    true => Duration::from_secs(60),
                    false => rng.random_range(Duration::ZERO..typical[kind] * 2),
                }
            };
            let etag = self.etag().await;
            let sent = Instant::now();
            match tokio::time::timeout(patience, self.write(etag.as_deref(), &content, choice).send()).await {
                Err(_) => given_up += 1,
                Ok(resp) => {
                    let status = resp.unwrap().status();
                    assert!(!status.is_server_error(), "a write answered {status}");
                    typical[kind] = (typical[kind] * 3 + sent.elapsed()) / 4;
                }
            }
        }
        let last = format!("{} {seed} last", self.vault).into_bytes();
        // A request given up on may still be running: its precondition fails once ours commits.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let etag = self.etag().await;
            let status = self.write(etag.as_deref(), &last, 2).send().await.unwrap().status();
            if status.is_success() {
                break;
            }
            assert!(
                [StatusCode::PRECONDITION_FAILED, StatusCode::CONFLICT].contains(&status),
                "final write answered {status}"
            );
            assert!(Instant::now() < deadline, "the final write never went through");
        }
        (self, last, given_up)
    }
}

async fn clients_leaving_at_random_cut_no_database_work_in_half(d: Deployment) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(&d, dir.path(), "info", &["--database-max-connections", "3"]).await;
    // No connection reuse: a request given up on closes its connection, as a leaving client does.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut workers = Vec::new();
    for user in 0..WORKERS / 2 {
        let creds = Creds::random();
        let resp = client.post(format!("{}/api/v1/auth/register", server.url)).json(&creds.register_body());
        assert_eq!(resp.send().await.unwrap().status(), StatusCode::CREATED);
        let login = client.post(format!("{}/api/v1/auth/login", server.url)).json(&creds.login_body());
        let tokens: Value = login.send().await.unwrap().json().await.unwrap();
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        for vault in 0..2 {
            workers.push(Worker {
                url: server.url.clone(),
                client: client.clone(),
                creds: creds.clone(),
                token: token.clone(),
                vault: format!("v{user}-{vault}"),
            });
        }
    }

    let started = Instant::now();
    let runs = workers.into_iter().enumerate().map(|(i, w)| tokio::spawn(w.run(i as u64)));
    let finished = tokio::time::timeout(Duration::from_secs(300), futures::future::join_all(runs))
        .await
        .expect("the workload finished in time");
    let finished: Vec<_> = finished.into_iter().map(Result::unwrap).collect();
    let given_up: usize = finished.iter().map(|(_, _, n)| n).sum();
    eprintln!("{} requests, {given_up} given up on, in {:?}", WORKERS * OPS_PER_WORKER, started.elapsed());
    assert!(given_up >= WORKERS * OPS_PER_WORKER / 8, "clients did leave: {given_up}");

    if let Deployment::Production { admin_url, .. } = &d {
        let database = server.arg("--database-url").map(|u| url::Url::parse(u).unwrap()).unwrap();
        let database = database.path().trim_start_matches('/').to_owned();
        no_transaction_left_open(admin_url, &database).await;
    }
    for (worker, last, _) in &finished {
        let resp = worker.call(Method::GET, &format!("/api/v1/vault/{}", worker.vault)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "the acknowledged last write reads back");
        let read: Value = resp.json().await.unwrap();
        assert_eq!(read["ciphertext"], b64(last), "{}", worker.vault);
        assert_eq!(read["size"], last.len());
        let raw = worker.call(Method::GET, &format!("/api/v1/vault/{}/content", worker.vault));
        let raw = raw.send().await.unwrap();
        assert_eq!(raw.status(), StatusCode::OK, "its object is there");
        assert_eq!(raw.bytes().await.unwrap(), &last[..]);
    }
    let log = std::fs::read_to_string(&server.log).unwrap();
    for complaint in ["there is already a transaction in progress", "there is no transaction in progress"] {
        assert!(!log.contains(complaint), "the server's log says `{complaint}`");
    }
}

/// Waits (bounded) until no statement of `database` runs, then asserts that none of its
/// sessions sits in a transaction.
async fn no_transaction_left_open(admin_url: &str, database: &str) {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
    async fn states(admin: &mut sqlx::PgConnection, database: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT coalesce(state, '') FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(database)
        .fetch_all(admin)
        .await
        .unwrap()
    }
    let started = Instant::now();
    while states(&mut admin, database).await.iter().any(|s| s == "active") {
        assert!(started.elapsed() < Duration::from_secs(30), "statements still running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let states = states(&mut admin, database).await;
    assert!(
        !states.iter().any(|s| s.starts_with("idle in transaction")),
        "sessions left inside a transaction: {states:?}"
    );
}
