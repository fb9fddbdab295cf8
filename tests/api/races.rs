//! Races that must end in one decision in the database: ending a tus upload against its final
//! PATCH, and quotas against concurrent uploads and writes. Each runs many trials on both
//! deployments and checks what is stored afterwards, not only the answers.

use std::collections::BTreeMap;

use std::time::Duration;

use blindvault::store::Timestamp;
use reqwest::{Method, StatusCode};

use crate::helpers::{Deployment, TestApp, on_both_deployments, rand_bytes, spawn_app};
use crate::tus::{at_rest, create, metadata, patch, tus};

on_both_deployments!(a_cancelled_upload_never_takes_a_committed_vault_with_it);

const TRIALS: usize = 160;

/// The vault's content, or the status when it cannot be read.
async fn content(app: &TestApp, token: &str, id: &str) -> Result<Vec<u8>, StatusCode> {
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
async fn upload(app: &TestApp, token: &str, id: &str, body: &[u8], extra: &[(&str, &[u8])]) -> String {
    let url = create(&app.address, token, body.len(), &metadata(id, extra)).await;
    let resp = patch(&url, token, 0, body.to_vec(), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

async fn a_cancelled_upload_never_takes_a_committed_vault_with_it(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for trial in 0..TRIALS {
        let (id, replace) = (format!("v{trial}"), trial % 2 == 1);
        let before = rand_bytes(1000);
        let etag = match replace {
            true => Some(upload(&app, &token, &id, &before, &[]).await),
            false => None,
        };
        let extra: Vec<(&str, &[u8])> = etag.iter().map(|e| ("if_match", e.as_bytes())).collect();
        let body = rand_bytes(3000);
        let url = create(&app.address, &token, body.len(), &metadata(&id, &extra)).await;
        let (patched, ended) = tokio::join!(
            patch(&url, &token, 0, body.clone(), None),
            tus(Method::DELETE, &url, &token).send()
        );
        let (patched, ended) = (patched.status(), ended.unwrap().status());
        let now = content(&app, &token, &id).await;
        let case =
            format!("trial {trial} ({}): PATCH {patched}, DELETE {ended}", ["create", "replace"][trial % 2]);
        assert!([StatusCode::NO_CONTENT, StatusCode::NOT_FOUND].contains(&ended), "{case}");
        if patched == StatusCode::NO_CONTENT {
            assert!(now.as_deref() == Ok(&body[..]), "{case}: the committed vault answers {:?}", now.err());
        } else {
            assert_eq!(patched, StatusCode::NOT_FOUND, "{case}: the loser is told the upload is gone");
            let expected = if replace { Ok(before) } else { Err(StatusCode::NOT_FOUND) };
            assert!(now == expected, "{case}: the vault is as it was ({:?})", now.err());
        }
        *outcomes.entry(format!("PATCH {patched}, DELETE {ended}")).or_default() += 1;
    }
    eprintln!("{TRIALS} trials of DELETE against the final PATCH: {outcomes:?}");
    assert_stores_only_its_vaults(&app, &creds.username).await;
}

/// Once everything due is swept, what is at rest is one object per vault (each of them there),
/// and nothing of an ended upload.
async fn assert_stores_only_its_vaults(app: &TestApp, username: &str) {
    let user = app.stored_user(username).await.id;
    app.state.sweeper.sweep(Timestamp::now().plus(Duration::from_secs(24 * 3600))).await.unwrap();
    let stored = at_rest(app, &user.to_string()).await;
    let vaults = app.state.vaults.list(user, None, 1000).await.unwrap().items;
    for vault in &vaults {
        assert!(
            stored.iter().any(|key| key.ends_with(&vault.etag)),
            "vault {} has its object",
            vault.vault_id
        );
    }
    assert_eq!(stored.len(), vaults.len(), "nothing else is at rest: {stored:?}");
}
