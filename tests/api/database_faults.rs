//! PostgreSQL dropping connections or refusing them for a while: requests fail with 503 (never
//! 500, never a hang past the acquire timeout), and service comes back by itself.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sqlx::Connection;

use crate::helpers::{Deployment, TestApp, assert_problem, spawn_app_with};
use crate::vaults_json::vault_body;

/// A connection to the admin database of the production deployment.
pub async fn admin(d: &Deployment) -> sqlx::PgConnection {
    let Deployment::Production { admin_url, .. } = d else { unreachable!() };
    sqlx::PgConnection::connect(admin_url).await.unwrap()
}

/// The name of the app's Postgres database.
pub fn database_of(app: &TestApp) -> String {
    let url = &app.args[app.args.iter().position(|a| a == "--database-url").unwrap() + 1];
    url::Url::parse(url).unwrap().path().trim_start_matches('/').to_owned()
}

async fn terminate_backends(admin: &mut sqlx::PgConnection, db: &str) {
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(db)
        .execute(admin)
        .await
        .unwrap();
}

/// GETs the vault until it answers 200 or `within` passes; every other answer must be a 503.
async fn recovers(app: &TestApp, token: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let resp = app.call(Method::GET, "/api/v1/vault/v", Some(token), None).await;
        match resp.status() {
            StatusCode::OK => return started.elapsed(),
            StatusCode::SERVICE_UNAVAILABLE => assert!(resp.headers().contains_key("retry-after")),
            other => panic!("expected 200 or 503, got {other}: {}", resp.text().await.unwrap_or_default()),
        }
        assert!(started.elapsed() < within, "did not recover within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_refused_connections_are_503_then_recover() {
    let Some(d) = Deployment::production() else { return };
    // Nothing cached, so that every request needs the database.
    let app = spawn_app_with(&d, &["--database-acquire-timeout", "1s"]).await;
    let (_, token) = app.user().await;
    let resp = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("v", b"data"))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let db = database_of(&app);
    let mut admin = admin(&d).await;

    // Every connection of the pool killed at once.
    terminate_backends(&mut admin, &db).await;
    let took = recovers(&app, &token, Duration::from_secs(10)).await;
    eprintln!("recovered from terminated connections in {took:?}");

    // The database refuses new connections for a while: 503 within the acquire timeout.
    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")))
        .execute(&mut admin)
        .await
        .unwrap();
    terminate_backends(&mut admin, &db).await;
    let started = Instant::now();
    let resp = app.post("/api/v1/auth/prelogin", serde_json::json!({"username": "whoever"})).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no hang past the acquire timeout: {:?}",
        started.elapsed()
    );
    assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let resp = app.call(Method::GET, "/health/ready", None, None).await;
    assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;

    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")))
        .execute(&mut admin)
        .await
        .unwrap();
    let took = recovers(&app, &token, Duration::from_secs(10)).await;
    eprintln!("recovered from refused connections in {took:?}");
    // The change listener subscribes again with backoff (at most 5 s between attempts).
    let started = Instant::now();
    while app.call(Method::GET, "/health/ready", None, None).await.status() != StatusCode::OK {
        assert!(started.elapsed() < Duration::from_secs(30), "never ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
