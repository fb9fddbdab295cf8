use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Deployment, assert_problem, on_both_deployments, spawn_app};

on_both_deployments!(
    unknown_paths_and_methods_are_problems,
    bad_json_is_refused_by_kind,
    request_ids_are_echoed_when_sane,
);

async fn unknown_paths_and_methods_are_problems(d: Deployment) {
    let app = spawn_app(&d).await;
    let resp = app.call(Method::GET, "/api/v1/nothing-here", None, None).await;
    assert_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    let resp = app.call(Method::DELETE, "/api/v1/auth/login", None, None).await;
    assert_problem(resp, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

async fn bad_json_is_refused_by_kind(d: Deployment) {
    let app = spawn_app(&d).await;
    let url = format!("{}/api/v1/auth/register", app.address);
    let send = |body: &'static str, content_type: &'static str| {
        app.client.post(&url).header("content-type", content_type).body(body).send()
    };

    let resp = send("{\"username\": ", "application/json").await.unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "malformed_json").await;

    let resp = send("{\"username\": \"abc\"}", "text/plain").await.unwrap();
    assert_problem(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;

    let body = r#"{"username":"abc","auth_hash":"AA==","salt":"AA==","kdf":"pbkdf2-sha256","iterations":600000,"admin":true}"#;
    let resp = send(body, "application/json").await.unwrap();
    let problem = assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert!(problem["detail"].as_str().unwrap().contains("admin"), "{problem}");

    let body = r#"{"username":"abc","auth_hash":"not base64!","salt":"AA==","kdf":"pbkdf2-sha256","iterations":600000}"#;
    let resp = send(body, "application/json").await.unwrap();
    let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_base64").await;
    assert!(problem["detail"].as_str().unwrap().contains("auth_hash"));

    // Unpadded base64 is not the standard form the contract names.
    let body =
        r#"{"username":"abc","auth_hash":"AA","salt":"AA==","kdf":"pbkdf2-sha256","iterations":600000}"#;
    let resp = send(body, "application/json").await.unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_base64").await;

    let big = format!("{{\"username\": \"{}\"}}", "a".repeat(200 * 1024));
    let resp =
        app.client.post(&url).header("content-type", "application/json").body(big).send().await.unwrap();
    assert_problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // None of that created anything.
    let resp = app.post("/api/v1/auth/prelogin", json!({"username": "abc"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(app.store.user_by_username("abc").await.unwrap().is_none());
}

async fn request_ids_are_echoed_when_sane(d: Deployment) {
    let app = spawn_app(&d).await;
    let url = format!("{}/health", app.address);
    let resp = app.client.get(&url).header("x-request-id", "trace-42.abc").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-42.abc");

    let resp = app.client.get(&url).header("x-request-id", "bad id with spaces").send().await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "bad id with spaces");
    assert!(uuid::Uuid::parse_str(&id).is_ok());

    let a = app.client.get(&url).send().await.unwrap();
    let b = app.client.get(&url).send().await.unwrap();
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
}
