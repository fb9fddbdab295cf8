//! The operator's `blindvault admin` commands as processes against a running server's
//! database, on both deployments: invite-only registration, disabling an account (its sessions
//! refused at once by the running server), per-account quotas.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Creds, Deployment, TestApp, assert_problem, b64, on_both_deployments, spawn_app, spawn_app_with,
};

on_both_deployments!(
    a_lost_second_factor_is_reset_by_the_operator,
    invite_only_registration_takes_each_code_once,
    a_disabled_account_is_refused_at_once_until_enabled,
    an_account_quota_replaces_the_deployments,
);

/// `blindvault admin ARGS` on `app`'s database.
fn admin(app: &TestApp, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_blindvault"))
        .arg("admin")
        .args(args)
        .args(&app.args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("blindvault admin runs");
    assert!(out.status.success(), "admin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn invite_only_registration_takes_each_code_once(d: Deployment) {
    let app = spawn_app_with(&d, &["--registration", "invite"]).await;
    let limits: Value = app.call(Method::GET, "/api/v1/limits", None, None).await.json().await.unwrap();
    assert_eq!(limits["registration"], "invite");
    let creds = Creds::random();
    let none = app.post("/api/v1/auth/register", creds.register_body()).await;
    assert_problem(none, StatusCode::FORBIDDEN, "invite_required").await;
    let code = stdout(&admin(&app, &["invite", "--expires", "1h"])).trim().to_owned();
    assert!(code.starts_with("bv-") && code.len() == 35, "{code}");

    let with = |creds: &Creds, invite: &str| {
        let mut body = creds.register_body();
        body["invite"] = json!(invite);
        body
    };
    let wrong = app.post("/api/v1/auth/register", with(&creds, "bv-0000")).await;
    assert_problem(wrong, StatusCode::FORBIDDEN, "invalid_invite").await;
    let first = app.post("/api/v1/auth/register", with(&creds, &code)).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let other = Creds::random();
    let again = app.post("/api/v1/auth/register", with(&other, &code)).await;
    assert_problem(again, StatusCode::FORBIDDEN, "invalid_invite").await;
    assert!(app.store.user_by_username(&other.username).await.unwrap().is_none(), "nothing stored");
    let expired = stdout(&admin(&app, &["invite", "--expires", "1s"])).trim().to_owned();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let late = app.post("/api/v1/auth/register", with(&other, &expired)).await;
    assert_problem(late, StatusCode::FORBIDDEN, "invalid_invite").await;
    let stored = app.state.auth.user(app.stored_user(&creds.username).await.id).await.unwrap();
    assert_eq!(stored.username, creds.username);
}

async fn a_lost_second_factor_is_reset_by_the_operator(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    crate::second_factors::enable_totp(&app, &creds, &token).await;
    let _challenge = crate::second_factors::challenge(&app, &creds).await;
    let shown = stdout(&admin(&app, &["user", &creds.username]));
    assert!(shown.contains("second factor totp"), "{shown}");
    let out = admin(&app, &["reset-factors", &creds.username]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 second factor(s)"), "{out:?}");
    let started = Instant::now();
    while app.call(Method::GET, "/api/v1/auth/session", Some(&token), None).await.status()
        != StatusCode::UNAUTHORIZED
    {
        assert!(started.elapsed() < Duration::from_secs(2), "the sessions did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let back = app.login(&creds).await;
    let events: Value = app
        .call(Method::GET, "/api/v1/account/events", back["access_token"].as_str(), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(events.to_string().contains("second_factors_reset"), "{events}");
    let user = app.stored_user(&creds.username).await;
    assert_eq!(app.store.recovery_codes_left(user.id).await.unwrap(), 0);
}

async fn a_disabled_account_is_refused_at_once_until_enabled(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let pair = app.login(&creds).await;
    let listed = stdout(&admin(&app, &["users"]));
    assert!(listed.contains(&creds.username) && listed.contains("active"), "{listed}");

    let warm = app.call(Method::GET, "/api/v1/auth/session", Some(&token), None).await;
    assert_eq!(warm.status(), StatusCode::OK, "the server now holds the session in its cache");
    admin(&app, &["disable", &creds.username]);
    let started = Instant::now();
    loop {
        let resp = app.call(Method::GET, "/api/v1/auth/session", Some(&token), None).await;
        if resp.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "the running server still accepts the session");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("a disabled account's session was refused after {:?}", started.elapsed());
    let refresh = app.post("/api/v1/auth/refresh", json!({ "refresh_token": pair["refresh_token"] })).await;
    assert_problem(refresh, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let login = app.post("/api/v1/auth/login", creds.login_body()).await;
    assert_problem(login, StatusCode::FORBIDDEN, "account_disabled").await;
    let wrong = json!({ "username": creds.username, "auth_hash": b64(&[9; 32]) });
    let wrong = app.post("/api/v1/auth/login", wrong).await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let shown = stdout(&admin(&app, &["user", &creds.username]));
    assert!(shown.contains("disabled") && shown.contains("0 live"), "{shown}");

    admin(&app, &["enable", &creds.username]);
    let back = app.login(&creds).await;
    let events = app
        .call(Method::GET, "/api/v1/account/events", back["access_token"].as_str(), None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let kinds: Vec<&str> =
        events["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"account_disabled") && kinds.contains(&"account_enabled"), "{kinds:?}");
    assert!(kinds.contains(&"login_refused_disabled"), "{kinds:?}");
}

async fn an_account_quota_replaces_the_deployments(d: Deployment) {
    let app = spawn_app_with(&d, &["--quota-vaults", "5"]).await;
    let (creds, token) = app.user().await;
    admin(&app, &["quota", &creds.username, "--bytes", "100", "--vaults", "default"]);
    let vault = |id: &str, len: usize| json!({ "vault_id": id, "ciphertext": b64(&vec![1; len]), "iv": b64(&[2; 12]), "salt": b64(&[3; 16]) });
    // Nothing cached the quota yet: the first write reads the operator's.
    let big = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault("big", 200))).await;
    assert_problem(big, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    let small = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault("small", 50))).await;
    assert_eq!(small.status(), StatusCode::CREATED);
    let account: Value =
        app.call(Method::GET, "/api/v1/account", Some(&token), None).await.json().await.unwrap();
    assert_eq!((account["quota_bytes"].as_u64(), account["quota_vaults"].as_u64()), (Some(100), Some(5)));
    let shown = stdout(&admin(&app, &["user", &creds.username]));
    assert!(
        shown.contains("quota bytes   100") && shown.contains("quota vaults  deployment default"),
        "{shown}"
    );

    admin(&app, &["quota", &creds.username, "--bytes", "default"]);
    // Servers cache quotas; the command tells them (NOTIFY, or a row SQLite's server polls).
    let started = Instant::now();
    loop {
        let account: Value =
            app.call(Method::GET, "/api/v1/account", Some(&token), None).await.json().await.unwrap();
        if account["quota_bytes"].is_null() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "the running server still applies the old quota");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let big = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault("big", 200))).await;
    assert_eq!(big.status(), StatusCode::CREATED, "back on the deployment's (unlimited) byte quota");
    let missing = Command::new(env!("CARGO_BIN_EXE_blindvault"))
        .args(["admin", "disable", "nobody-here"])
        .args(&app.args)
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no account named nobody-here"));
}
