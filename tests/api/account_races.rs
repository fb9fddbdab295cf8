//! Deleting an account while its writes are under way: each write either finished before (and
//! went with the account) or finds no account and stores nothing; nothing of the user is left
//! at rest (no object, spool, tail or open multipart upload), with and without a quota.

use std::collections::BTreeMap;
use std::time::Duration;

use blindvault::domain::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    Creds, Deployment, TestApp, b64, on_both_deployments, rand_bytes, spawn_app, spawn_app_with,
};
use crate::races::{put_stream, try_create};
use crate::tus::{at_rest, create, metadata, multipart_uploads, patch};
use crate::upload_races::slow_patch;
use crate::vaults_json::{put_json, replace_body, vault_body};

on_both_deployments!(
    deleting_the_account_under_a_patch_leaves_nothing,
    deleting_the_account_while_it_writes_leaves_nothing,
);

async fn delete_account(app: &TestApp, creds: &Creds, token: &str) -> StatusCode {
    let body = json!({"auth_hash": b64(&creds.auth_hash)});
    app.call(Method::DELETE, "/api/v1/account", Some(token), Some(body)).await.status()
}

/// After a sweep of everything due within two days: nothing of `user` at rest.
async fn assert_nothing_left(app: &TestApp, creds: &Creds, user: uuid::Uuid, case: &str) {
    app.state.sweeper.sweep(Timestamp::now().plus(Duration::from_secs(2 * 86400))).await.unwrap();
    assert_eq!(at_rest(app, &user.to_string()).await, Vec::<String>::new(), "{case}: nothing at rest");
    assert_eq!(multipart_uploads(&app.deployment, user).await, 0, "{case}: no multipart upload open");
    assert!(app.store.user_by_username(&creds.username).await.unwrap().is_none(), "{case}: the user is gone");
}

/// A PATCH still receiving its body when the account goes: it stores its tail after the
/// deletion released the upload, finds the upload gone, releases that too and answers 404.
async fn deleting_the_account_under_a_patch_leaves_nothing(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let user = app.stored_user(&creds.username).await.id;
    let url = create(&app.address, &token, 10_000, &metadata("slow", &[])).await;
    assert_eq!(patch(&url, &token, 0, rand_bytes(2000), None).await.status(), StatusCode::NO_CONTENT);
    let pause = Duration::from_millis(800);
    let patching = slow_patch(&url, &token, 2000, rand_bytes(2000), pause, rand_bytes(2000));
    let deleting = async {
        tokio::time::sleep(pause / 3).await;
        delete_account(&app, &creds, &token).await
    };
    let (patched, deleted) = tokio::join!(patching, deleting);
    assert_eq!((patched, deleted), (StatusCode::NOT_FOUND, StatusCode::NO_CONTENT));
    assert_nothing_left(&app, &creds, user, "a PATCH under way").await;
}

/// Trials per configuration; the account deletion comes 0, 10, 20, ... ms after the writes.
const TRIALS: u32 = 8;

async fn deleting_the_account_while_it_writes_leaves_nothing(d: Deployment) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let quota = ["--quota-bytes", "10000000", "--quota-vaults", "50"];
    for extra in [&[][..], &quota[..]] {
        let app = spawn_app_with(&d, extra).await;
        for trial in 0..TRIALS {
            let (creds, token) = app.user().await;
            let user = app.stored_user(&creds.username).await.id;
            let resp =
                app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("r", b"first"))).await;
            assert_eq!(resp.status(), StatusCode::CREATED);
            let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
            let writes = (0..8).map(|i| write(&app, &token, i, &etag));
            let deleting = async {
                tokio::time::sleep(Duration::from_millis(10 * u64::from(trial))).await;
                delete_account(&app, &creds, &token).await
            };
            let (written, deleted) = tokio::join!(futures::future::join_all(writes), deleting);
            let case = format!("quota {extra:?}, trial {trial}: {written:?}");
            assert_eq!(deleted, StatusCode::NO_CONTENT, "{case}");
            for (what, status) in &written {
                assert!(!status.is_server_error(), "{case}: {what} answered {status}");
                *seen.entry(format!("{what} {}", status.as_u16())).or_default() += 1;
            }
            assert_nothing_left(&app, &creds, user, &case).await;
        }
    }
    eprintln!("writes racing account deletion: {seen:?}");
}

/// Write number `i` of a trial (four kinds); the last status it got.
async fn write(app: &TestApp, token: &str, i: usize, etag: &str) -> (&'static str, StatusCode) {
    let id = format!("w{i}");
    match i % 4 {
        0 => ("streamed PUT", put_stream(app, token, &id, 20_000).await),
        1 => {
            let resp = put_json(app, token, "r", ("if-match", etag), replace_body(&rand_bytes(500))).await;
            ("JSON replace", resp.status())
        }
        kind => {
            let (what, sent) = if kind == 2 { ("tus upload", 20_000) } else { ("tus partial", 10_000) };
            match try_create(app, token, &id, 20_000).await {
                Ok(url) => (what, patch(&url, token, 0, rand_bytes(sent), None).await.status()),
                Err(status) => ("tus create", status),
            }
        }
    }
}
