//! Races that must end in one decision in the database: quotas against concurrent uploads and
//! writes (ending a tus upload against its final PATCH is in `upload_races.rs`). Each checks
//! what is stored afterwards, not only the answers.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blindvault::domain::Timestamp;
use reqwest::{Method, StatusCode};

use crate::helpers::{Deployment, TestApp, on_both_deployments, rand_bytes, spawn_app_with};
use crate::tus::{at_rest, create, metadata, multipart_uploads, patch, tus};

on_both_deployments!(
    concurrent_writes_stay_within_the_quota,
    open_uploads_reserve_their_length,
    unconditional_replaces_all_apply_one_after_another,
);

/// `If-Match: *` asks only that the vault exist, which it does throughout: of concurrent
/// replaces none fails for another having changed the etag in between; each is one revision.
async fn unconditional_replaces_all_apply_one_after_another(d: Deployment) {
    let app = spawn_app_with(&d, &[]).await;
    let (_, token) = app.user().await;
    let body = crate::vaults_json::vault_body("v", &[0; 100]);
    assert_eq!(
        app.call(Method::POST, "/api/v1/vault", Some(&token), Some(body)).await.status(),
        StatusCode::CREATED
    );
    let writers = (1..=12u8).map(|n| {
        let (app, token) = (&app, &token);
        async move {
            let req = app.client.put(format!("{}/api/v1/vault/v", app.address)).bearer_auth(token);
            let req = req.header("if-match", "*").json(&crate::vaults_json::replace_body(&[n; 100]));
            req.send().await.unwrap().status()
        }
    });
    let statuses = futures::future::join_all(writers).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
    let read: serde_json::Value =
        app.call(Method::GET, "/api/v1/vault/v", Some(&token), None).await.json().await.unwrap();
    assert_eq!(read["revision"], 13, "twelve replaces, twelve revisions");
}

/// The vault's content, or the status when it cannot be read.
pub async fn content(app: &TestApp, token: &str, id: &str) -> Result<Vec<u8>, StatusCode> {
    let resp = app
        .client
        .get(format!("{}/api/v1/vault/{id}/content", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    match resp.status() {
        StatusCode::OK => Ok(resp.bytes().await.unwrap().to_vec()),
        status => Err(status),
    }
}

/// Stores `body` as vault `id` through a whole tus upload; returns its ETag.
pub async fn upload(app: &TestApp, token: &str, id: &str, body: &[u8], extra: &[(&str, &[u8])]) -> String {
    let url = create(&app.address, token, body.len(), &metadata(id, extra)).await;
    let resp = patch(&url, token, 0, body.to_vec(), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

/// Once everything due is swept, what is at rest is one object per retained revision of each
/// vault (each of them there), and nothing of an ended upload (no spool, tail or open
/// multipart upload).
pub async fn assert_stores_only_its_vaults(app: &TestApp, username: &str) {
    let user = app.stored_user(username).await.id;
    app.state.sweeper.sweep(Timestamp::now().plus(Duration::from_secs(24 * 3600))).await.unwrap();
    let stored = at_rest(app, &user.to_string()).await;
    let vaults = app.state.vaults.list(user, None, 1000).await.unwrap().items;
    let mut revisions = Vec::new();
    for vault in &vaults {
        let id = blindvault::domain::VaultId::parse(&vault.vault_id).unwrap();
        revisions.extend(app.state.vaults.revisions(user, &id, None, 1000).await.unwrap().items);
    }
    for revision in &revisions {
        assert!(
            stored.iter().any(|key| key.ends_with(&revision.etag)),
            "revision {} of vault {} has its object",
            revision.revision,
            revision.vault_id
        );
    }
    assert_eq!(stored.len(), revisions.len(), "nothing else is at rest: {stored:?}");
    assert_eq!(multipart_uploads(&app.deployment, user).await, 0, "no multipart upload is left open");
}

const QUOTA: [&str; 4] = ["--quota-bytes", "100000", "--quota-vaults", "3"];

/// Streams `len` bytes to vault `id` (`If-None-Match: *`); returns the status.
pub async fn put_stream(app: &TestApp, token: &str, id: &str, len: usize) -> StatusCode {
    let resp = app
        .client
        .put(format!("{}/api/v1/vault/{id}/content", app.address))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .header("x-vault-iv", STANDARD.encode([1u8; 12]))
        .header("x-vault-salt", STANDARD.encode([1u8; 12]))
        .header("if-none-match", "*")
        .body(rand_bytes(len))
        .send()
        .await
        .unwrap();
    resp.status()
}

/// Creates an upload of `len` bytes for vault `id`; its URL, or the status when refused.
pub async fn try_create(app: &TestApp, token: &str, id: &str, len: usize) -> Result<String, StatusCode> {
    let resp = tus(Method::POST, format!("{}/api/v1/uploads", app.address), token)
        .header("upload-length", len)
        .header("upload-metadata", metadata(id, &[]))
        .send()
        .await
        .unwrap();
    match resp.status() {
        StatusCode::CREATED => Ok(format!("{}{}", app.address, resp.headers()["location"].to_str().unwrap())),
        status => Err(status),
    }
}

/// `prefix0`, `prefix1`, ...
fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// What the user holds at rest, by the store's count: (bytes, vaults).
async fn held(app: &TestApp, username: &str) -> (u64, usize) {
    let user = app.stored_user(username).await.id;
    let vaults = app.state.vaults.list(user, None, 1000).await.unwrap().items;
    (vaults.iter().map(|v| v.size as u64).sum(), vaults.len())
}

async fn concurrent_writes_stay_within_the_quota(d: Deployment) {
    let app = spawn_app_with(&d, &QUOTA).await;
    // Six streamed PUTs of 40,000 bytes at once: two fit in 100,000 bytes.
    let (creds, token) = app.user().await;
    let ids = names("p", 6);
    let puts = ids.iter().map(|id| put_stream(&app, &token, id, 40_000));
    let statuses = futures::future::join_all(puts).await;
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::PAYLOAD_TOO_LARGE).count();
    assert_eq!((created, refused), (2, 4), "{statuses:?}");
    assert_eq!(held(&app, &creds.username).await, (80_000, 2));
    assert_stores_only_its_vaults(&app, &creds.username).await;

    // Five tus uploads of 30,000 bytes created and finished at once: three vaults at most.
    let (creds, token) = app.user().await;
    let ids = names("t", 5);
    let creates = ids.iter().map(|id| try_create(&app, &token, id, 30_000));
    let urls: Vec<String> = futures::future::join_all(creates).await.into_iter().flatten().collect();
    assert_eq!(urls.len(), 3, "three uploads reserve three vaults; the others are refused at creation");
    let patches = urls.iter().map(|url| patch(url, &token, 0, rand_bytes(30_000), None));
    let statuses: Vec<StatusCode> =
        futures::future::join_all(patches).await.iter().map(|r| r.status()).collect();
    assert!(statuses.iter().all(|s| *s == StatusCode::NO_CONTENT), "{statuses:?}");
    assert_eq!(held(&app, &creds.username).await, (90_000, 3));
    assert_stores_only_its_vaults(&app, &creds.username).await;
}

async fn open_uploads_reserve_their_length(d: Deployment) {
    let app = spawn_app_with(&d, &QUOTA).await;
    let (creds, token) = app.user().await;
    // Five 90,000-byte uploads at once: one reservation fits.
    let ids = names("u", 5);
    let creates = ids.iter().map(|id| try_create(&app, &token, id, 90_000));
    let results = futures::future::join_all(creates).await;
    let urls: Vec<&String> = results.iter().flatten().collect();
    assert_eq!(urls.len(), 1, "{results:?}");
    assert!(results.iter().flat_map(|r| r.as_ref().err()).all(|s| *s == StatusCode::PAYLOAD_TOO_LARGE));
    // While it is open, its 90,000 bytes are taken: a 20,000-byte write does not fit...
    assert_eq!(put_stream(&app, &token, "small", 20_000).await, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(put_stream(&app, &token, "smaller", 9_000).await, StatusCode::CREATED);
    // ...and the upload still commits in full.
    let resp = patch(urls[0], &token, 0, rand_bytes(90_000), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(held(&app, &creds.username).await, (99_000, 2));
    // Ending an upload gives its reservation back.
    let url = try_create(&app, &token, "later", 1_000).await.unwrap();
    assert_eq!(try_create(&app, &token, "again", 500).await, Err(StatusCode::PAYLOAD_TOO_LARGE));
    assert_eq!(tus(Method::DELETE, &url, &token).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let url = try_create(&app, &token, "again", 500).await.expect("the reservation was given back");
    assert_eq!(tus(Method::DELETE, &url, &token).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_stores_only_its_vaults(&app, &creds.username).await;
}
