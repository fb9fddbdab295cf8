use reqwest::{Method, StatusCode};

use crate::helpers::{Creds, Deployment, on_both_deployments, spawn_app, spawn_app_with};
use crate::vaults_json::{read_user, vault_body};

on_both_deployments!(metrics_count_what_happened_without_ids, metrics_can_have_their_own_listener);

async fn metrics_count_what_happened_without_ids(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let resp = app.post("/api/v1/auth/login", Creds::random().login_body()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = app
        .call(
            Method::POST,
            "/api/v1/vault",
            Some(&token),
            Some(vault_body("secret-vault-name", &[7u8; 1000])),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    for _ in 0..2 {
        let resp = app.call(Method::GET, "/api/v1/vault/secret-vault-name", Some(&token), None).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    for _ in 0..2 {
        let resp = app.call(Method::GET, "/api/v1/auth/session", Some(&token), None).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = resp.text().await.unwrap();
    for line in [
        r#"blindvault_http_requests_total{route="/api/v1/auth/login",method="POST",status="200"} 1"#,
        r#"blindvault_http_requests_total{route="/api/v1/auth/login",method="POST",status="401"} 1"#,
        r#"blindvault_http_requests_total{route="/api/v1/vault/{vault_id}",method="GET",status="200"} 2"#,
        r#"blindvault_logins_total{outcome="ok"} 1"#,
        r#"blindvault_logins_total{outcome="invalid_credentials"} 1"#,
        "blindvault_vault_uploaded_bytes_total 1000",
        "blindvault_vault_downloaded_bytes_total 2000",
        r#"blindvault_cache_hits_total{cache="body"} 0"#,
        r#"blindvault_cache_misses_total{cache="body"} 1"#,
        r#"blindvault_cache_hits_total{cache="json"} 1"#,
        r#"blindvault_cache_misses_total{cache="json"} 1"#,
        r#"blindvault_cache_hits_total{cache="username"} 1"#,
        r#"blindvault_cache_misses_total{cache="username"} 1"#,
        "blindvault_argon2_queue_depth 0",
        "blindvault_object_store_errors_total 0",
        "blindvault_feed_waiting_requests 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    for prefix in [
        "blindvault_http_request_duration_seconds_bucket{",
        "blindvault_argon2_wait_seconds_count ",
        r#"blindvault_db_connections{state="idle"} "#,
        "blindvault_sweeper_runs_total ",
        r#"blindvault_cache_misses_total{cache="vault"} "#,
    ] {
        assert!(text.lines().any(|l| l.starts_with(prefix)), "missing `{prefix}...` in:\n{text}");
    }
    let user = read_user(&app, &token).await;
    assert!(!text.contains("secret-vault-name") && !text.contains(&user), "no ids as labels");
}

async fn metrics_can_have_their_own_listener(d: Deployment) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_with(&d, &["--metrics-listen", &format!("127.0.0.1:{port}")]).await;
    assert_eq!(app.call(Method::GET, "/metrics", None, None).await.status(), StatusCode::NOT_FOUND);
    let text = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("blindvault_argon2_queue_depth"), "{text}");
}
