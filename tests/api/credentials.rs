use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Creds, Deployment, assert_problem, b64, on_both_deployments, rand_bytes, spawn_app};

on_both_deployments!(
    changing_credentials_revokes_other_sessions,
    credential_changes_need_the_current_hash_and_scope
);

fn change_body(current: &Creds, next: &Creds) -> Value {
    json!({
        "current_auth_hash": b64(&current.auth_hash),
        "new_auth_hash": b64(&next.auth_hash),
        "new_salt": b64(&next.salt),
        "iterations": 700000,
    })
}

async fn changing_credentials_revokes_other_sessions(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let current = app.login(&creds).await;
    let other = app.login(&creds).await;
    let token = current["access_token"].as_str().unwrap();
    let next = Creds { username: creds.username.clone(), auth_hash: rand_bytes(32), salt: rand_bytes(24) };

    let resp = app
        .call(Method::PUT, "/api/v1/auth/credentials", Some(token), Some(change_body(&creds, &next)))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    // This session stays; the other one is gone, refresh token included.
    let resp = app.call(Method::GET, "/api/v1/auth/session", Some(token), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app.call(Method::GET, "/api/v1/auth/session", other["access_token"].as_str(), None).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let resp = app.post("/api/v1/auth/refresh", json!({"refresh_token": other["refresh_token"]})).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "token_revoked").await;

    // The old hash no longer logs in; the new one does; prelogin hands out the new salt.
    let resp = app.post("/api/v1/auth/login", creds.login_body()).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    app.login(&next).await;
    let kdf: Value =
        app.post("/api/v1/auth/prelogin", json!({"username": creds.username})).await.json().await.unwrap();
    assert_eq!(kdf, json!({"kdf": "pbkdf2-sha256", "iterations": 700000, "salt": b64(&next.salt)}));

    let user = app.stored_user(&creds.username).await;
    assert_eq!(user.security_stamp, 2);
}

async fn credential_changes_need_the_current_hash_and_scope(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let tokens = app.login(&creds).await;
    let token = tokens["access_token"].as_str();
    let next = Creds { username: creds.username.clone(), auth_hash: rand_bytes(32), salt: rand_bytes(16) };

    let mut wrong = creds.clone();
    wrong.auth_hash[3] ^= 1;
    let resp =
        app.call(Method::PUT, "/api/v1/auth/credentials", token, Some(change_body(&wrong, &next))).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    let mut low = change_body(&creds, &next);
    low["iterations"] = json!(1000);
    let resp = app.call(Method::PUT, "/api/v1/auth/credentials", token, Some(low)).await;
    assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;

    let mut login = creds.login_body();
    login["scope"] = json!("vault:read vault:write");
    let narrow: Value = app.login_with(login).await;
    let resp = app
        .call(
            Method::PUT,
            "/api/v1/auth/credentials",
            narrow["access_token"].as_str(),
            Some(change_body(&creds, &next)),
        )
        .await;
    assert!(resp.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    assert_problem(resp, StatusCode::FORBIDDEN, "insufficient_scope").await;

    let resp =
        app.call(Method::PUT, "/api/v1/auth/credentials", None, Some(change_body(&creds, &next))).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // Nothing changed.
    app.login(&creds).await;
    let user = app.stored_user(&creds.username).await;
    assert_eq!((user.security_stamp, user.kdf_salt), (1, creds.salt.clone()));
}
