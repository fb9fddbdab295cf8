//! `blindvault backup` and `blindvault restore-backup` as processes, on both deployments: a snapshot
//! of a database with accounts and vaults, restored into an empty database, serves every
//! account and vault again; backups are kept up to BLINDVAULT_BACKUP_KEEP; a database that is
//! not empty is never restored over; on Postgres, a damaged snapshot restores nothing.

use std::process::{Command, Output};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Deployment, TestApp, b64, fresh_database, on_both_deployments, spawn_app};

on_both_deployments!(a_backup_restored_into_an_empty_database_serves_everything);

fn blindvault(args: &[&str], app_args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blindvault"))
        .args(args)
        .args(app_args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("blindvault runs")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn a_backup_restored_into_an_empty_database_serves_everything(d: Deployment) {
    let app = spawn_app(&d).await;
    let mut people = Vec::new();
    for n in 0..3u8 {
        let (creds, token) = app.user().await;
        let body = json!({ "vault_id": format!("v{n}"), "ciphertext": b64(&[n; 300]), "iv": b64(&[2; 12]), "salt": b64(&[3; 16]) });
        assert_eq!(
            app.call(Method::POST, "/api/v1/vault", Some(&token), Some(body)).await.status(),
            StatusCode::CREATED
        );
        people.push((creds, n));
    }
    let mut args = app.args.clone();
    args.extend(["--backup-keep".to_owned(), "2".to_owned()]);
    let name = ok(blindvault(&["backup"], &args)).trim().to_owned();
    let ext = if matches!(d, Deployment::Embedded) { ".sqlite" } else { ".pgsnap" };
    assert!(
        name.ends_with(&format!("-manual{ext}"))
            && name.contains(&format!("-v{}-", crate::migrations::LATEST)),
        "{name}"
    );
    for _ in 0..2 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        ok(blindvault(&["backup"], &args));
    }
    let kept = ok(blindvault(&["backup", "--list"], &args));
    assert_eq!(kept.lines().count(), 2, "BLINDVAULT_BACKUP_KEEP=2: {kept}");
    assert!(!kept.contains(&name), "the oldest went: {kept}");
    let newest = kept.lines().last().unwrap().to_owned();

    // An empty database beside the same objects.
    let empty = match &d {
        Deployment::Embedded => format!("sqlite://{}", app.dir.path().join("restored.db").display()),
        Deployment::Production { admin_url, .. } => fresh_database(admin_url).await.0,
    };
    let restored_args = on_database(&args, &empty);
    let refused = blindvault(&["restore-backup", &newest], &args);
    assert!(!refused.status.success(), "restoring over a database with data is refused");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));
    ok(blindvault(&["restore-backup", &newest], &restored_args));

    let restored = app.sibling(&["--database-url", &empty]).await;
    for (creds, n) in &people {
        let tokens = restored.login(creds).await;
        let token = tokens["access_token"].as_str().unwrap();
        let read: Value = restored
            .call(Method::GET, &format!("/api/v1/vault/v{n}"), Some(token), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read["ciphertext"], b64(&[*n; 300]), "vault v{n} reads back after the restore");
        let account: Value =
            restored.call(Method::GET, "/api/v1/account", Some(token), None).await.json().await.unwrap();
        let usage = &account["usage"];
        assert_eq!((usage["bytes"].as_u64(), usage["vaults"].as_u64()), (Some(300), Some(1)), "counted once");
    }
}

/// `args` with the database URL replaced by `url`.
fn on_database(args: &[String], url: &str) -> Vec<String> {
    let mut args = args.to_vec();
    match args.iter().position(|a| a == "--database-url") {
        Some(at) => args[at + 1] = url.to_owned(),
        None => args.extend(["--database-url".to_owned(), url.to_owned()]),
    }
    args
}

async fn events_of(app: &TestApp, token: &str) -> Vec<i64> {
    let events: Value =
        app.call(Method::GET, "/api/v1/account/events", Some(token), None).await.json().await.unwrap();
    events["items"].as_array().expect("events").iter().map(|e| e["id"].as_i64().expect("id")).collect()
}

/// Postgres snapshots are the server's own (no pg_dump): one cut short or not a snapshot at all
/// is refused and commits no row, after which the same database takes the whole one, and the
/// audit trail's identity sequence carries on after the restored rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_postgres_snapshot_restores_nothing() {
    let Some(d) = Deployment::production() else { return };
    let Deployment::Production { admin_url, .. } = &d else { unreachable!() };
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let before = events_of(&app, &token).await;
    assert!(!before.is_empty(), "registration and login are in the audit trail");
    let dir = tempfile::tempdir().unwrap();
    let mut args = app.args.clone();
    args.extend(["--backup-dir".to_owned(), dir.path().display().to_string()]);
    let name = ok(blindvault(&["backup"], &args)).trim().to_owned();
    let whole = dir.path().join(&name);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("cut.pgsnap");
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    let junk = dir.path().join("junk.pgsnap");
    std::fs::write(&junk, b"PGDMP not ours").unwrap();

    let (empty, _) = fresh_database(admin_url).await;
    let target = on_database(&args, &empty);
    for (file, why) in [(&junk, "not a blindvault Postgres snapshot"), (&cut, "cannot restore the backup")] {
        let refused = blindvault(&["restore-backup", &file.display().to_string()], &target);
        assert!(!refused.status.success(), "{} is refused", file.display());
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains(why),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
    }
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&empty).await.unwrap();
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&mut db).await.unwrap();
    assert_eq!(users, 0, "the failed restore committed nothing");

    ok(blindvault(&["restore-backup", &whole.display().to_string()], &target));
    let restored = app.sibling(&["--database-url", &empty]).await;
    let tokens = restored.login(&creds).await;
    let after = events_of(&restored, tokens["access_token"].as_str().unwrap()).await;
    assert!(after.len() > before.len(), "the new login is recorded beside the restored events");
    assert!(after[0] > *before.iter().max().unwrap(), "new event ids come after the restored ones");
    assert!(before.iter().all(|id| after.contains(id)), "every event came back");
}
