use std::collections::BTreeMap;

use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    Creds, Deployment, TestApp, assert_problem, b64, on_both_deployments, spawn_app, spawn_app_with,
};

on_both_deployments!(
    failed_logins_lock_the_account,
    failed_logins_lock_the_address,
    the_lockout_ends_with_its_window,
    forwarded_addresses_count_only_behind_trusted_proxies,
    concurrent_wrong_logins_cannot_slip_under_the_limit,
    password_re_entry_is_throttled_like_logins,
);

async fn failed_logins_lock_the_account(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let mut wrong = creds.clone();
    wrong.auth_hash[0] ^= 1;
    for _ in 0..10 {
        let resp = app.post("/api/v1/auth/login", wrong.login_body()).await;
        assert_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // The 11th attempt is refused before any hashing, even with the right hash.
    let resp = app.post("/api/v1/auth/login", creds.login_body()).await;
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another replica shares the counters.
    let replica = app.sibling(&[]).await;
    let resp = replica.post("/api/v1/auth/login", creds.login_body()).await;
    assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another account from the same address is unaffected (its limit is 100).
    let other = app.register().await;
    app.login(&other).await;
}

async fn the_lockout_ends_with_its_window(d: Deployment) {
    let app =
        spawn_app_with(&d, &["--login-max-failures-per-account", "3", "--login-failure-window", "2s"]).await;
    let creds = app.register().await;
    let mut wrong = creds.clone();
    wrong.auth_hash[0] ^= 1;
    for _ in 0..3 {
        let resp = app.post("/api/v1/auth/login", wrong.login_body()).await;
        assert_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let resp = app.post("/api/v1/auth/login", creds.login_body()).await;
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry} lies within the 2 s window");
    assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    tokio::time::sleep(std::time::Duration::from_millis(retry * 1000 + 300)).await;
    // The window has passed: the right hash gets in, and the count starts again from zero.
    app.login(&creds).await;
    let resp = app.post("/api/v1/auth/login", wrong.login_body()).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

async fn failed_logins_lock_the_address(d: Deployment) {
    let app = spawn_app_with(&d, &["--login-max-failures-per-address", "3"]).await;
    let creds = app.register().await;
    for _ in 0..3 {
        let resp = app.post("/api/v1/auth/login", Creds::random().login_body()).await;
        assert_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let resp = app.post("/api/v1/auth/login", creds.login_body()).await;
    assert!(resp.headers().contains_key("retry-after"));
    assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

async fn forwarded_addresses_count_only_behind_trusted_proxies(d: Deployment) {
    let login_from = |app: &crate::helpers::TestApp, creds: &Creds, xff: &'static str| {
        app.client
            .post(format!("{}/api/v1/auth/login", app.address))
            .header("x-forwarded-for", xff)
            .json(&creds.login_body())
            .send()
    };
    // Behind a trusted proxy, each forwarded client has its own budget.
    let app = spawn_app_with(
        &d,
        &["--login-max-failures-per-address", "2", "--trusted-proxies", "127.0.0.0/8,::1/128"],
    )
    .await;
    for _ in 0..2 {
        let resp = login_from(&app, &Creds::random(), "198.51.100.1").await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = login_from(&app, &Creds::random(), "198.51.100.1").await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let resp = login_from(&app, &Creds::random(), "198.51.100.2").await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "another client is not locked out");

    // Without trust, X-Forwarded-For is ignored: spoofing it does not buy more attempts.
    let app = spawn_app(&d).await;
    let app = app.sibling(&["--login-max-failures-per-address", "2"]).await;
    for xff in ["203.0.113.1", "203.0.113.2"] {
        let resp = login_from(&app, &Creds::random(), xff).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = login_from(&app, &Creds::random(), "203.0.113.3").await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// How many answers had each status.
fn tally(statuses: impl IntoIterator<Item = StatusCode>) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for status in statuses {
        *counts.entry(status.as_u16()).or_default() += 1;
    }
    counts
}

async fn concurrent_wrong_logins_cannot_slip_under_the_limit(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let mut wrong = creds.clone();
    wrong.auth_hash[0] ^= 1;
    let attempts = (0..30).map(|_| app.post("/api/v1/auth/login", wrong.login_body()));
    let statuses = futures::future::join_all(attempts).await.iter().map(|r| r.status()).collect::<Vec<_>>();
    // The limit is 10 per account: each attempt is counted before it is hashed.
    assert_eq!(tally(statuses), BTreeMap::from([(401, 10), (429, 20)]));
    let resp = app.post("/api/v1/auth/login", creds.login_body()).await;
    assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// `DELETE /api/v1/account` or `PUT /api/v1/auth/credentials` with `auth_hash` as the
/// password re-entered.
async fn re_enter(app: &TestApp, token: &str, route: &str, creds: &Creds, auth_hash: &[u8]) -> Response {
    let (method, body) = match route {
        "account" => (Method::DELETE, json!({"auth_hash": b64(auth_hash)})),
        _ => {
            let next = Creds::random();
            let body = json!({
                "current_auth_hash": b64(auth_hash),
                "new_auth_hash": b64(&next.auth_hash),
                "new_salt": b64(&creds.salt),
                "iterations": 700000,
            });
            (Method::PUT, body)
        }
    };
    let path = if route == "account" { "/api/v1/account" } else { "/api/v1/auth/credentials" };
    app.call(method, path, Some(token), Some(body)).await
}

async fn password_re_entry_is_throttled_like_logins(d: Deployment) {
    let app = spawn_app_with(&d, &["--login-max-failures-per-account", "3"]).await;
    for route in ["account", "credentials"] {
        let (creds, token) = app.user().await;
        let mut wrong = creds.auth_hash.clone();
        wrong[0] ^= 1;
        let attempts = (0..12).map(|_| re_enter(&app, &token, route, &creds, &wrong));
        let statuses =
            futures::future::join_all(attempts).await.iter().map(Response::status).collect::<Vec<_>>();
        assert_eq!(tally(statuses), BTreeMap::from([(401, 3), (429, 9)]), "{route}");
        // Locked: even the right hash is refused, as a login is, and nothing changed.
        let resp = re_enter(&app, &token, route, &creds, &creds.auth_hash).await;
        let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{route}: Retry-After {retry}");
        assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        assert_eq!(
            app.call(Method::GET, "/api/v1/auth/session", Some(&token), None).await.status(),
            StatusCode::OK
        );
        // A login counts against the same account.
        let resp = app.post("/api/v1/auth/login", creds.login_body()).await;
        assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
}
