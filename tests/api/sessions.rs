//! Sessions their owner can see and end, and the audit trail, over HTTP on both deployments;
//! a session ended on one replica refused on another (production).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Creds, Deployment, TestApp, assert_problem, b64, on_both_deployments, spawn_app};
use crate::second_factors::{answer, challenge, code, enable_totp};

on_both_deployments!(sessions_are_listed_and_ended_by_their_owner, the_audit_trail_pages_and_keeps_no_secret);

async fn login_as(app: &TestApp, creds: &Creds, device: &str) -> Value {
    let body =
        json!({ "username": creds.username, "auth_hash": b64(&creds.auth_hash), "device_name": device });
    let resp = app.post("/api/v1/auth/login", body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

fn access(pair: &Value) -> &str {
    pair["access_token"].as_str().unwrap()
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let resp = app.call(Method::GET, "/api/v1/auth/sessions", Some(token), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["sessions"].as_array().unwrap().clone()
}

async fn sessions_are_listed_and_ended_by_their_owner(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let phone = login_as(&app, &creds, "phone").await;
    let laptop = login_as(&app, &creds, "laptop").await;
    let listed = sessions(&app, access(&laptop)).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0]["device_name"].as_str(), listed[0]["current"].as_bool()),
        (Some("laptop"), Some(true))
    );
    assert_eq!(
        (listed[1]["device_name"].as_str(), listed[1]["current"].as_bool()),
        (Some("phone"), Some(false))
    );
    assert_eq!(listed[1]["address"], "127.0.0.0/24");
    assert_eq!(listed[1]["scope"], "vault:read vault:write account");
    for field in ["created_at", "last_used_at"] {
        assert!(
            time::OffsetDateTime::parse(
                listed[1][field].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339
            )
            .is_ok()
        );
    }
    let phone_id = listed[1]["session_id"].as_str().unwrap().to_owned();

    let (_, stranger) = app.user().await;
    let foreign =
        app.call(Method::DELETE, &format!("/api/v1/auth/sessions/{phone_id}"), Some(&stranger), None).await;
    assert_problem(foreign, StatusCode::NOT_FOUND, "not_found").await;
    let garbage = app.call(Method::DELETE, "/api/v1/auth/sessions/not-a-uuid", Some(&stranger), None).await;
    assert_problem(garbage, StatusCode::NOT_FOUND, "not_found").await;
    let alive = app.call(Method::GET, "/api/v1/auth/session", Some(access(&phone)), None).await;
    assert_eq!(alive.status(), StatusCode::OK, "a stranger cannot end it");

    let ended = app
        .call(Method::DELETE, &format!("/api/v1/auth/sessions/{phone_id}"), Some(access(&laptop)), None)
        .await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let refused = app.call(Method::GET, "/api/v1/auth/session", Some(access(&phone)), None).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let refresh = app.post("/api/v1/auth/refresh", json!({ "refresh_token": phone["refresh_token"] })).await;
    assert_problem(refresh, StatusCode::UNAUTHORIZED, "token_revoked").await;

    let _tablet = login_as(&app, &creds, "tablet").await;
    let _desk = login_as(&app, &creds, "desk").await;
    let others = app.call(Method::DELETE, "/api/v1/auth/sessions", Some(access(&laptop)), None).await;
    assert_eq!(others.status(), StatusCode::OK);
    assert_eq!(others.json::<Value>().await.unwrap(), json!({ "ended": 2 }));
    assert_eq!(sessions(&app, access(&laptop)).await.len(), 1);

    let narrow =
        json!({ "username": creds.username, "auth_hash": b64(&creds.auth_hash), "scope": "vault:read" });
    let narrow = app.login_with(narrow).await;
    let denied = app.call(Method::GET, "/api/v1/auth/sessions", Some(access(&narrow)), None).await;
    assert_problem(denied, StatusCode::FORBIDDEN, "insufficient_scope").await;
}

async fn the_audit_trail_pages_and_keeps_no_secret(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let bad = json!({ "username": creds.username, "auth_hash": b64(&[7; 32]) });
    assert_eq!(app.login_with(bad).await["code"], "invalid_credentials");
    // A failed login's event is stored after the answer (so that it takes no longer than one
    // for an unknown name): wait for it before the next event.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let events =
            app.call(Method::GET, "/api/v1/account/events", Some(&token), None).await.text().await.unwrap();
        if events.contains("login_failed") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the failed login was never recorded: {events}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (secret, codes) = enable_totp(&app, &creds, &token).await;
    let ch = challenge(&app, &creds).await;
    assert_eq!(answer(&app, &ch, "totp", "000000").await.status(), StatusCode::UNAUTHORIZED);
    let pair: Value = answer(&app, &ch, "totp", &code(&secret, 30)).await.json().await.unwrap();
    let token = access(&pair).to_owned();
    let body = json!({ "vault_id": "doomed", "ciphertext": b64(&[1; 40]), "iv": b64(&[2; 12]), "salt": b64(&[3; 16]) });
    let put = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(body)).await;
    assert!(put.status().is_success(), "{}", put.status());
    let del = app.call(Method::DELETE, "/api/v1/vault/doomed", Some(&token), None).await;
    assert_eq!(del.status(), StatusCode::NO_CONTENT);

    let mut kinds = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let mut raw = String::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/account/events?limit=3&cursor={c}"),
            None => "/api/v1/account/events?limit=3".to_owned(),
        };
        let resp = app.call(Method::GET, &path, Some(&token), None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let text = resp.text().await.unwrap();
        raw.push_str(&text);
        let page: Value = serde_json::from_str(&text).unwrap();
        kinds
            .extend(page["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(pages >= 3, "{pages} pages");
    kinds.reverse();
    let expected = [
        "login_succeeded",
        "login_failed",
        "totp_enrolment_started",
        "totp_enabled",
        "second_factor_required",
        "second_factor_failed",
        "login_succeeded",
        "vault_deleted",
    ];
    assert_eq!(kinds, expected, "oldest first after reversing");
    let user = app.stored_user(&creds.username).await;
    for needle in
        [b64(&creds.auth_hash), secret.clone(), codes[0].clone(), token.clone(), ch.clone(), user.auth_phc]
    {
        assert!(!raw.contains(&needle), "the audit trail holds a secret: {needle}");
    }
    assert!(raw.contains("\"address\":\"127.0.0.0/24\""), "{raw}");
    let bad_cursor = app.call(Method::GET, "/api/v1/account/events?cursor=abc", Some(&token), None).await;
    assert_problem(bad_cursor, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let bad_limit = app.call(Method::GET, "/api/v1/account/events?limit=500", Some(&token), None).await;
    assert_problem(bad_limit, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_replica_is_refused_on_another() {
    let Some(d) = Deployment::production() else { return };
    let a = spawn_app(&d).await;
    let b = a.sibling(&[]).await;
    let creds = a.register().await;
    let phone = login_as(&a, &creds, "phone").await;
    let laptop = login_as(&a, &creds, "laptop").await;
    let on_b = b.call(Method::GET, "/api/v1/auth/session", Some(access(&phone)), None).await;
    assert_eq!(on_b.status(), StatusCode::OK, "b caches the live session");
    let phone_id = sessions(&a, access(&laptop)).await[1]["session_id"].as_str().unwrap().to_owned();
    let ended = a
        .call(Method::DELETE, &format!("/api/v1/auth/sessions/{phone_id}"), Some(access(&laptop)), None)
        .await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let started = Instant::now();
    loop {
        let resp = b.call(Method::GET, "/api/v1/auth/session", Some(access(&phone)), None).await;
        if resp.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "replica b still accepts the ended session");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("replica b refused the ended session after {:?}", started.elapsed());
}
