//! Second factors over HTTP, on both deployments: TOTP enrolment, the login's challenge and
//! its abuse (replayed codes, codes from the wrong step, reused challenges and recovery codes,
//! brute force into the throttle), and what is at rest (the TOTP secret never in clear).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use blindvault::service::{totp_base32_decode, totp_code_for};

use crate::helpers::{
    Creds, Deployment, TestApp, assert_problem, b64, on_both_deployments, spawn_app, spawn_app_with,
};

on_both_deployments!(
    totp_guards_the_login_and_each_code_works_once,
    recovery_codes_work_once_and_end_other_sessions,
    wrong_codes_run_into_the_login_throttle,
    second_factor_requests_are_checked,
);

/// The authenticator app's code `seconds` from now.
pub fn code(secret: &str, seconds: i64) -> String {
    totp_code_for(secret, time::OffsetDateTime::now_utc().unix_timestamp() + seconds).expect("base32 secret")
}

/// Enables TOTP for `creds` (logged in with `token`); the secret and the recovery codes.
pub async fn enable_totp(app: &TestApp, creds: &Creds, token: &str) -> (String, Vec<String>) {
    let resp = call(app, Method::POST, "/totp", token, json!({ "auth_hash": b64(&creds.auth_hash) })).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let enrolment: Value = resp.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains(&creds.username), "{uri}");
    let resp = call(app, Method::POST, "/totp/confirm", token, json!({ "code": code(&secret, 0) })).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let codes: Vec<String> =
        serde_json::from_value(body["recovery_codes"].clone()).expect("codes with the first factor");
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.call(method, &format!("/api/v1/account/second-factors{path}"), Some(token), Some(body)).await
}

/// A right password now: the challenge token (asserting the problem's shape).
pub async fn challenge(app: &TestApp, creds: &Creds) -> String {
    let resp = app.post("/api/v1/auth/login", creds.login_body()).await;
    assert!(resp.headers().contains_key("www-authenticate"));
    let body = assert_problem(resp, StatusCode::UNAUTHORIZED, "second_factor_required").await;
    assert_eq!(body["factors"], json!(["totp", "recovery_code"]));
    assert_eq!(body["expires_in"], 300);
    assert!(body["webauthn"].is_null());
    body["challenge_token"].as_str().unwrap().to_owned()
}

/// `POST /auth/login/second-factor`.
pub async fn answer(app: &TestApp, token: &str, method: &str, code: &str) -> reqwest::Response {
    let body = json!({ "challenge_token": token, "method": method, "code": code });
    app.post("/api/v1/auth/login/second-factor", body).await
}

async fn totp_guards_the_login_and_each_code_works_once(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let (secret, _) = enable_totp(&app, &creds, &token).await;
    let status: Value = app
        .call(Method::GET, "/api/v1/account/second-factors", Some(&token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        status,
        json!({ "totp": true, "totp_pending": false, "recovery_codes_left": 10, "webauthn": [] })
    );
    let again =
        call(&app, Method::POST, "/totp", &token, json!({ "auth_hash": b64(&creds.auth_hash) })).await;
    assert_problem(again, StatusCode::CONFLICT, "second_factor_exists").await;

    let wrong_password =
        app.login_with(json!({ "username": creds.username, "auth_hash": b64(&[0; 32]) })).await;
    assert_eq!(wrong_password["code"], "invalid_credentials", "no challenge without the password");
    let ch = challenge(&app, &creds).await;
    let stale = answer(&app, &ch, "totp", &code(&secret, -60)).await;
    assert_problem(stale, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    let next = code(&secret, 30);
    let resp = answer(&app, &ch, "totp", &next).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let pair: Value = resp.json().await.unwrap();
    let session = app.call(Method::GET, "/api/v1/auth/session", pair["access_token"].as_str(), None).await;
    assert_eq!(session.status(), StatusCode::OK);

    let reused = answer(&app, &ch, "totp", &code(&secret, 30)).await;
    assert_problem(reused, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
    let ch = challenge(&app, &creds).await;
    let replayed = answer(&app, &ch, "totp", &next).await;
    assert_problem(replayed, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;

    // At rest: sealed, never the secret itself.
    let user = app.stored_user(&creds.username).await;
    let factor = app.store.totp(user.id).await.unwrap().expect("factor at rest");
    let raw = totp_base32_decode(&secret).unwrap();
    assert!(!factor.secret_sealed.windows(raw.len()).any(|w| w == raw), "the TOTP secret is stored in clear");
    assert!(!String::from_utf8_lossy(&factor.secret_sealed).contains(&secret));

    let off =
        call(&app, Method::DELETE, "/totp", &token, json!({ "auth_hash": b64(&creds.auth_hash) })).await;
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.login(&creds).await["token_type"], "Bearer", "no second step once TOTP is off");
}

async fn recovery_codes_work_once_and_end_other_sessions(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let (_, codes) = enable_totp(&app, &creds, &token).await;
    let ch = challenge(&app, &creds).await;
    let resp = answer(&app, &ch, "recovery_code", &codes[0].to_uppercase()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let pair: Value = resp.json().await.unwrap();
    let fresh = pair["access_token"].as_str().unwrap();
    let old = app.call(Method::GET, "/api/v1/auth/session", Some(&token), None).await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let ch = challenge(&app, &creds).await;
    let reused = answer(&app, &ch, "recovery_code", &codes[0]).await;
    assert_problem(reused, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;

    let renewed =
        call(&app, Method::POST, "/recovery-codes", fresh, json!({ "auth_hash": b64(&creds.auth_hash) }))
            .await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.unwrap();
    let resp = answer(&app, &ch, "recovery_code", &codes[1]).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    let resp = answer(&app, &ch, "recovery_code", renewed["recovery_codes"][0].as_str().unwrap()).await;
    assert_eq!(resp.status(), StatusCode::OK, "a renewed code works; the old ones do not");
}

async fn wrong_codes_run_into_the_login_throttle(d: Deployment) {
    let app = spawn_app_with(&d, &["--login-max-failures-per-account", "4"]).await;
    let (creds, token) = app.user().await;
    let (secret, _) = enable_totp(&app, &creds, &token).await;
    let ch = challenge(&app, &creds).await;
    let guesses = ["000000", "111111", "222222", "333333"];
    let tasks = guesses.map(|guess| {
        let (app, ch) = (&app, ch.clone());
        async move { answer(app, &ch, "totp", guess).await.status() }
    });
    let statuses = futures::future::join_all(tasks).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    let limited = answer(&app, &ch, "totp", &code(&secret, 30)).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let password = app.post("/api/v1/auth/login", creds.login_body()).await;
    assert_problem(password, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

async fn second_factor_requests_are_checked(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let path = "/api/v1/auth/login/second-factor";
    for (body, code) in [
        (json!({ "challenge_token": "x", "method": "sms", "code": "1" }), "invalid_field"),
        (json!({ "challenge_token": "x", "method": "totp" }), "invalid_field"),
        (json!({ "challenge_token": "x", "method": "webauthn" }), "invalid_field"),
        (json!({ "challenge_token": "x" }), "invalid_field"),
        (json!({ "challenge_token": "x".repeat(200), "method": "totp", "code": "1" }), "invalid_field"),
    ] {
        assert_problem(app.post(path, body).await, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let garbled =
        app.client.post(format!("{}{path}", app.address)).header("content-type", "application/json");
    let garbled = garbled.body("{\"challenge_token\":").send().await.unwrap();
    assert_problem(garbled, StatusCode::BAD_REQUEST, "malformed_json").await;
    let unknown = answer(&app, "no-such-challenge", "totp", "123456").await;
    assert_problem(unknown, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
    let confirm = call(&app, Method::POST, "/totp/confirm", &token, json!({ "code": "123456" })).await;
    assert_problem(confirm, StatusCode::NOT_FOUND, "not_found").await;
    let wrong = call(&app, Method::POST, "/totp", &token, json!({ "auth_hash": b64(&[1; 32]) })).await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let long = json!({ "username": creds.username, "auth_hash": b64(&creds.auth_hash), "device_name": "x".repeat(65) });
    assert_problem(
        app.post("/api/v1/auth/login", long).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    let off =
        call(&app, Method::DELETE, "/totp", &token, json!({ "auth_hash": b64(&creds.auth_hash) })).await;
    assert_problem(off, StatusCode::NOT_FOUND, "not_found").await;
    let user = app.stored_user(&creds.username).await;
    assert!(app.store.totp(user.id).await.unwrap().is_none(), "nothing stored");
}
