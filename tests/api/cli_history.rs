//! History, the trash and the change feed through the CLI, from two machines, on both
//! deployments: a restore is accepted on a machine that saw the older revision (its receipt
//! vouches for it) while the same content replayed by the server without a receipt is refused;
//! a vault comes back from the trash under another id and decrypts there (the rename receipt),
//! not without one; `watch` prints changes as they happen.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blindvault::client::crypto::Keys;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Deployment, TestApp, on_both_deployments, spawn_app};
use crate::process::Cli;

on_both_deployments!(restores_and_the_trash_across_two_machines, watch_prints_changes_as_they_happen);

const PW: &str = "two machines, one history";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An access token for `username`, derived as the CLI derives it: what a hostile server (or
/// anyone with the password) could use to act outside the CLI.
async fn token(app: &TestApp, username: &str) -> String {
    let kdf: Value =
        app.post("/api/v1/auth/prelogin", json!({"username": username})).await.json().await.unwrap();
    let salt = STANDARD.decode(kdf["salt"].as_str().unwrap()).unwrap();
    let keys = Keys::derive(username, PW, &salt, kdf["iterations"].as_u64().unwrap() as u32);
    let tokens =
        app.login_with(json!({"username": username, "auth_hash": STANDARD.encode(keys.auth_hash)})).await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn current_etag(app: &TestApp, token: &str, id: &str) -> String {
    let resp = app.call(Method::GET, &format!("/api/v1/vault/{id}"), Some(token), None).await;
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

async fn restores_and_the_trash_across_two_machines(d: Deployment) {
    let app = spawn_app(&d).await;
    let dir = tempfile::tempdir().unwrap();
    let (laptop, phone) =
        (Cli::new(&app.address, dir.path(), "laptop"), Cli::new(&app.address, dir.path(), "phone"));
    laptop.ok(PW, &["register", "erin"]);
    phone.ok(PW, &["login", "erin"]);
    let notes = dir.path().join("notes");
    let file = notes.to_str().unwrap();
    for version in ["version one", "version two", "version three"] {
        std::fs::write(&notes, version).unwrap();
        laptop.ok(PW, &["put", file]);
        assert_eq!(phone.ok(PW, &["get", "notes"]), version.as_bytes(), "the phone saw every revision");
    }
    let history = text(&laptop.ok(PW, &["history", "notes"]));
    assert_eq!(history.lines().count(), 3, "{history}");
    assert!(history.lines().next().unwrap().contains("(current)"), "{history}");
    assert_eq!(laptop.ok(PW, &["get", "notes", "--revision", "2"]), b"version two");

    // The owner's restore: revision 4 carries revision 1's salt, and its receipt.
    let out = laptop.run(PW, &["restore", "notes", "1"]);
    assert!(text(&out.stderr).contains("as revision 4"), "{}", text(&out.stderr));
    assert_eq!(phone.ok(PW, &["get", "notes"]), b"version one", "a restore the owner made is accepted");

    // The same kind of answer without a receipt, as a server replaying old content would
    // give: the phone refuses it, and accepts the owner's next restore again.
    let bearer = token(&app, "erin").await;
    let etag = current_etag(&app, &bearer, "notes").await;
    let replay = app
        .client
        .post(format!("{}/api/v1/vault/notes/revisions/2/restore", app.address))
        .bearer_auth(&bearer)
        .header("if-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::OK);
    let refused = phone.run(PW, &["get", "notes"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("older revision"), "{}", text(&refused.stderr));
    laptop.ok(PW, &["restore", "notes", "3"]);
    assert_eq!(phone.ok(PW, &["get", "notes"]), b"version three");

    // The trash: the id is free again; the old vault comes back under another id, readable.
    laptop.ok(PW, &["rm", "notes"]);
    let trash = text(&laptop.ok(PW, &["trash"]));
    assert!(trash.contains("notes"), "{trash}");
    std::fs::write(&notes, "a new vault").unwrap();
    laptop.ok(PW, &["put", file]);
    let taken = laptop.run(PW, &["untrash", "notes"]);
    assert!(text(&taken.stderr).contains("--as"), "{}", text(&taken.stderr));
    laptop.ok(PW, &["untrash", "notes", "--as", "old-notes"]);
    assert_eq!(phone.ok(PW, &["get", "old-notes"]), b"version three", "decrypted under its old id");
    // A new vault under a seen id looks like a rollback to a machine that saw the old one,
    // until told otherwise.
    assert_eq!(phone.run(PW, &["get", "notes"]).status.code(), Some(1));
    assert_eq!(phone.ok(PW, &["get", "notes", "--accept-revision"]), b"a new vault");

    // Brought back under another id without the owner's receipt: refused, not decrypted.
    laptop.ok(PW, &["rm", "notes"]);
    let entries: Value =
        app.call(Method::GET, "/api/v1/trash", Some(&bearer), None).await.json().await.unwrap();
    let trash_id = entries["items"][0]["trash_id"].as_str().unwrap();
    let path = format!("/api/v1/trash/{trash_id}/restore");
    let moved = app.call(Method::POST, &path, Some(&bearer), Some(json!({"vault_id": "renamed"}))).await;
    assert_eq!(moved.status(), StatusCode::CREATED);
    let refused = phone.run(PW, &["get", "renamed"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("without the owner's receipt"), "{}", text(&refused.stderr));

    // Purged for good.
    laptop.ok(PW, &["rm", "old-notes"]);
    laptop.ok(PW, &["purge", "old-notes"]);
    assert!(!text(&laptop.ok(PW, &["trash"])).contains("old-notes"));
    assert_eq!(laptop.run(PW, &["purge", "old-notes"]).status.code(), Some(1));
}

async fn watch_prints_changes_as_they_happen(d: Deployment) {
    let app = spawn_app(&d).await;
    let dir = tempfile::tempdir().unwrap();
    let (laptop, watcher) =
        (Cli::new(&app.address, dir.path(), "laptop"), Cli::new(&app.address, dir.path(), "watcher"));
    laptop.ok(PW, &["register", "frank"]);
    watcher.ok(PW, &["login", "frank"]);
    let mut watch = watcher
        .command(&[("BLINDVAULT_PASSWORD", PW)], &["watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut errors = BufReader::new(watch.stderr.take().unwrap()).lines();
    let started = errors.next().unwrap().unwrap();
    assert!(started.contains("watching for changes"), "{started}");
    let notes = dir.path().join("notes");
    std::fs::write(&notes, "one").unwrap();
    let written = Instant::now();
    laptop.ok(PW, &["put", notes.to_str().unwrap()]);
    let line = lines.next().unwrap().unwrap();
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!((fields[0], fields[1], fields[2], fields[3]), ("1", "create", "notes", "1"), "{line}");
    assert!(written.elapsed() < Duration::from_secs(20), "printed as it happened");
    laptop.ok(PW, &["rm", "notes"]);
    let line = lines.next().unwrap().unwrap();
    assert!(line.starts_with("2 delete notes 1 "), "{line}");
    watch.kill().unwrap();
    watch.wait().unwrap();
}
