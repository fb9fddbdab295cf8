use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Creds, Deployment, assert_problem, on_both_deployments, spawn_app, spawn_app_with};

on_both_deployments!(
    login_issues_a_token_pair,
    wrong_user_and_wrong_hash_fail_alike,
    scopes_can_be_narrowed,
    old_hashes_are_upgraded_on_login,
);

async fn login_issues_a_token_pair(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let resp = app.post("/api/v1/auth/login", creds.login_body()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "vault:read vault:write account");
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);
    assert_eq!(body.as_object().unwrap().len(), 5);

    let token = body["access_token"].as_str().unwrap();
    let session: Value =
        app.call(reqwest::Method::GET, "/api/v1/auth/session", Some(token), None).await.json().await.unwrap();
    assert_eq!(session["username"], creds.username);
    let sid = uuid::Uuid::parse_str(session["session_id"].as_str().unwrap()).unwrap();
    let stored = app.store.session(sid).await.unwrap().expect("session at rest");
    assert!(stored.revoked_at.is_none());
    assert_eq!(stored.scope, "vault:read vault:write account");
}

async fn wrong_user_and_wrong_hash_fail_alike(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let mut wrong_hash = creds.clone();
    wrong_hash.auth_hash[0] ^= 1;
    let wrong_user = Creds::random();

    let a = app.post("/api/v1/auth/login", wrong_hash.login_body()).await;
    assert!(a.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let a = assert_problem(a, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let b = app.post("/api/v1/auth/login", wrong_user.login_body()).await;
    let b = assert_problem(b, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(a, b, "the two failures are indistinguishable");
}

async fn scopes_can_be_narrowed(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let mut body = creds.login_body();
    body["scope"] = json!("vault:read");
    let resp = app.post("/api/v1/auth/login", body.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["scope"], "vault:read");

    body["scope"] = json!("vault:read admin");
    let resp = app.post("/api/v1/auth/login", body).await;
    assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
}

async fn old_hashes_are_upgraded_on_login(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let before = app.stored_user(&creds.username).await.auth_phc;
    assert!(before.contains("m=256,t=1,p=1"));

    // The operator raises the cost; the next successful login re-hashes.
    let stronger = app.sibling(&["--argon2-m-kib", "512", "--argon2-t", "2"]).await;
    let mut wrong = creds.clone();
    wrong.auth_hash[5] ^= 0xff;
    let resp = stronger.post("/api/v1/auth/login", wrong.login_body()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let unchanged = app.stored_user(&creds.username).await.auth_phc;
    assert_eq!(unchanged, before, "a failed login changes nothing");

    stronger.login(&creds).await;
    let after = app.stored_user(&creds.username).await.auth_phc;
    assert!(after.starts_with("$argon2id$v=19$m=512,t=2,p=1$"), "{after}");
    stronger.login(&creds).await;
    app.login(&creds).await;
}

/// With the real (default) Argon2 cost, a login for an unknown user takes as long as one
/// with a wrong hash: both do the same hashing work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_cost_the_same_argon2_work() {
    let app = spawn_app_with(
        &Deployment::Embedded,
        &[
            "--argon2-m-kib",
            "19456",
            "--argon2-t",
            "2",
            "--login-max-failures-per-address",
            "1000",
            "--login-max-failures-per-account",
            "1000",
        ],
    )
    .await;
    let creds = app.register().await;
    let mut wrong = creds.clone();
    wrong.auth_hash[0] ^= 1;
    let unknown = Creds::random();
    let time = |body: Value| {
        let app = &app;
        async move {
            let started = Instant::now();
            let resp = app.post("/api/v1/auth/login", body).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
            started.elapsed()
        }
    };
    let (mut known, mut absent) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        known.push(time(wrong.login_body()).await);
        absent.push(time(unknown.login_body()).await);
    }
    known.sort();
    absent.sort();
    let (known, absent) = (known[3], absent[3]);
    let ratio = absent.as_secs_f64() / known.as_secs_f64();
    assert!(known > Duration::from_millis(5), "the default cost really hashes ({known:?})");
    assert!((0.5..2.0).contains(&ratio), "unknown {absent:?} vs wrong hash {known:?}");
}
