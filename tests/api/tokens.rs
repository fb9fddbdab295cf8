use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Deployment, TestApp, assert_problem, on_both_deployments, spawn_app, spawn_app_with};

on_both_deployments!(
    session_reports_the_presented_token,
    missing_or_forged_tokens_are_unauthenticated,
    refresh_rotates_and_reuse_revokes_the_session,
    concurrent_refreshes_of_one_token_let_none_through_silently,
    logout_ends_the_session_everywhere,
    expired_access_tokens_are_refused,
);

async fn session(app: &TestApp, token: &str) -> reqwest::Response {
    app.call(Method::GET, "/api/v1/auth/session", Some(token), None).await
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

fn refresh_body(tokens: &Value) -> Value {
    json!({"refresh_token": tokens["refresh_token"]})
}

async fn session_reports_the_presented_token(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let mut body = creds.login_body();
    body["scope"] = json!("account vault:read");
    let tokens: Value = app.login_with(body).await;
    let resp = session(&app, access(&tokens)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let info: Value = resp.json().await.unwrap();
    let user = app.stored_user(&creds.username).await;
    assert_eq!(info["user_id"], user.id.to_string());
    assert_eq!(info["username"], creds.username);
    assert_eq!(info["scope"], "vault:read account");
    let left = expires_at(&info) - time::OffsetDateTime::now_utc();
    assert!(left > time::Duration::minutes(14) && left <= time::Duration::minutes(15), "{left}");
    assert_eq!(info.as_object().unwrap().len(), 5);
}

async fn missing_or_forged_tokens_are_unauthenticated(d: Deployment) {
    let app = spawn_app(&d).await;
    let resp = app.call(Method::GET, "/api/v1/auth/session", None, None).await;
    assert!(resp.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    let resp = session(&app, "not.a.jwt").await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // A token signed by another server (another key) is worthless here.
    let other = spawn_app_with(&Deployment::Embedded, &[]).await;
    let creds = other.register().await;
    let foreign = other.login(&creds).await;
    let resp = session(&app, access(&foreign)).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // A refresh token is not an access token, and the other way round.
    let resp = session(&app, foreign["refresh_token"].as_str().unwrap()).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let resp = app.post("/api/v1/auth/refresh", json!({"refresh_token": access(&foreign)})).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

async fn refresh_rotates_and_reuse_revokes_the_session(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let first = app.login(&creds).await;

    let resp = app.post("/api/v1/auth/refresh", refresh_body(&first)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let second: Value = resp.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["scope"], first["scope"]);
    assert_eq!(session(&app, access(&second)).await.status(), StatusCode::OK);

    // The old refresh token is spent; presenting it again means theft: the whole session goes.
    let resp = app.post("/api/v1/auth/refresh", refresh_body(&first)).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let resp = app.post("/api/v1/auth/refresh", refresh_body(&second)).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_problem(session(&app, access(&second)).await, StatusCode::UNAUTHORIZED, "token_revoked").await;

    // Other sessions of the same user are untouched.
    let other = app.login(&creds).await;
    assert_eq!(session(&app, access(&other)).await.status(), StatusCode::OK);
}

async fn concurrent_refreshes_of_one_token_let_none_through_silently(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let tokens = app.login(&creds).await;
    let attempts = (0..8).map(|_| app.post("/api/v1/auth/refresh", refresh_body(&tokens)));
    let responses = futures::future::join_all(attempts).await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "exactly one rotation wins: {statuses:?}");
    for resp in responses.into_iter().filter(|r| r.status() != StatusCode::OK) {
        assert_problem(resp, StatusCode::UNAUTHORIZED, "token_revoked").await;
    }
    // The losers presented a spent token, so the session is revoked for everyone.
    assert_problem(session(&app, access(&tokens)).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
}

async fn logout_ends_the_session_everywhere(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let tokens = app.login(&creds).await;
    let kept = app.login(&creds).await;
    let resp = app.call(Method::POST, "/api/v1/auth/logout", Some(access(&tokens)), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    assert_problem(session(&app, access(&tokens)).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let resp = app.post("/api/v1/auth/refresh", refresh_body(&tokens)).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "token_revoked").await;
    // A second replica sharing the store agrees at once.
    let replica = app.sibling(&[]).await;
    assert_problem(session(&replica, access(&tokens)).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(session(&app, access(&kept)).await.status(), StatusCode::OK);
}

/// When the token `GET /auth/session` answered `info` for expires.
fn expires_at(info: &Value) -> time::OffsetDateTime {
    let text = info["expires_at"].as_str().unwrap();
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
}

async fn expired_access_tokens_are_refused(d: Deployment) {
    // Long enough to be used once under a loaded CI; the wait goes by the token's own `exp`.
    let app = spawn_app_with(&d, &["--access-ttl", "4s"]).await;
    let creds = app.register().await;
    let tokens = app.login(&creds).await;
    assert_eq!(tokens["expires_in"], 4);
    let resp = session(&app, access(&tokens)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let expires = expires_at(&resp.json().await.unwrap());
    // `exp` is in whole seconds and the token is refused from it on (RFC 7519 4.1.4); the
    // session's `expires_at` may round down, so wait a little past the next second.
    let wait = expires + time::Duration::milliseconds(1100) - time::OffsetDateTime::now_utc();
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
    let resp = session(&app, access(&tokens)).await;
    assert!(resp.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    assert_problem(resp, StatusCode::UNAUTHORIZED, "token_expired").await;
    // The refresh token still works and yields a fresh access token.
    let fresh: Value = app.post("/api/v1/auth/refresh", refresh_body(&tokens)).await.json().await.unwrap();
    assert_eq!(session(&app, access(&fresh)).await.status(), StatusCode::OK);
}
