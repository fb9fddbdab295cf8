//! Two replicas on one Postgres: what one changes, the other's cache forgets within a second.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Deployment, TestApp, b64, spawn_app};
use crate::vaults_json::vault_body;

async fn etag_on(app: &TestApp, token: &str) -> String {
    let resp = app.call(Method::GET, "/api/v1/vault/shared", Some(token), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

/// Polls `check` until it holds, for at most a second; returns how long that took.
async fn within_a_second<F, Fut>(mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(1), "the other replica still serves stale data");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_forget_what_another_changed() {
    let Some(d) = Deployment::production() else { return };
    let a = spawn_app(&d).await;
    let b = a.sibling(&[]).await;
    let (_, token) = a.user().await;
    let resp = a.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("shared", b"one"))).await;
    let first = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag_on(&b, &token).await, first);
    assert_eq!(etag_on(&b, &token).await, first, "now cached on b");
    let hits = b.state.changes.caches().vault_counts.hits.load(std::sync::atomic::Ordering::Relaxed);
    assert!(hits >= 1, "b served from its cache");

    let body = json!({"ciphertext": b64(b"two"), "iv": b64(&[1u8; 8]), "salt": b64(&[1u8; 8])});
    let resp = a
        .client
        .put(format!("{}/api/v1/vault/shared", a.address))
        .bearer_auth(&token)
        .header("if-match", &first)
        .json(&body)
        .send()
        .await
        .unwrap();
    let second = resp.headers()["etag"].to_str().unwrap().to_owned();
    let took = within_a_second(|| async { etag_on(&b, &token).await == second }).await;
    eprintln!("replica b saw the replace after {took:?}");
    let read: Value =
        b.call(Method::GET, "/api/v1/vault/shared", Some(&token), None).await.json().await.unwrap();
    assert_eq!(read["ciphertext"], b64(b"two"));

    // Logout on a: b, which has the session cached, refuses the token within a second.
    assert_eq!(
        b.call(Method::GET, "/api/v1/auth/session", Some(&token), None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        a.call(Method::POST, "/api/v1/auth/logout", Some(&token), None).await.status(),
        StatusCode::NO_CONTENT
    );
    let took = within_a_second(|| async {
        b.call(Method::GET, "/api/v1/auth/session", Some(&token), None).await.status()
            == StatusCode::UNAUTHORIZED
    })
    .await;
    eprintln!("replica b refused the logged-out token after {took:?}");
}
