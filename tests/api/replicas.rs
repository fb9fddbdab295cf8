//! Two replicas on one Postgres: what one changes, the other's cache forgets promptly, from
//! the moment it starts; a replica that cannot listen to the others is not ready and caches
//! nothing, subscribes again by itself, and starts over with empty caches.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::database_faults::{admin, database_of};
use crate::helpers::{Deployment, TestApp, b64, spawn_app};
use crate::vaults_json::{put_json, vault_body};

async fn etag_on(app: &TestApp, token: &str) -> String {
    let resp = app.call(Method::GET, "/api/v1/vault/shared", Some(token), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

/// Polls `check` until it holds, for at most ten seconds (a loaded machine delivers
/// notifications late, never not at all); returns how long that took.
async fn promptly<F, Fut>(mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(10), "the other replica still serves stale data");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// Replicas a and b, a user's token, and the etag of the user's vault `shared` made on a.
async fn two_replicas_sharing_a_vault(d: &Deployment) -> (TestApp, TestApp, String, String) {
    let a = spawn_app(d).await;
    let b = a.sibling(&[]).await;
    let (_, token) = a.user().await;
    let resp = a.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("shared", b"one"))).await;
    let first = resp.headers()["etag"].to_str().unwrap().to_owned();
    (a, b, token, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_forget_what_another_changed() {
    let Some(d) = Deployment::production() else { return };
    let (a, b, token, first) = two_replicas_sharing_a_vault(&d).await;
    assert_eq!(etag_on(&b, &token).await, first);
    assert_eq!(etag_on(&b, &token).await, first, "now cached on b");
    let hits = b.state.changes.caches().vault_counts.hits.load(std::sync::atomic::Ordering::Relaxed);
    assert!(hits >= 1, "b served from its cache");

    let body = json!({"ciphertext": b64(b"two"), "iv": b64(&[1u8; 8]), "salt": b64(&[1u8; 8])});
    let resp = a
        .client
        .put(format!("{}/api/v1/vault/shared", a.address))
        .bearer_auth(&token)
        .header("if-match", &first)
        .json(&body)
        .send()
        .await
        .unwrap();
    let second = resp.headers()["etag"].to_str().unwrap().to_owned();
    let took = promptly(|| async { etag_on(&b, &token).await == second }).await;
    eprintln!("replica b saw the replace after {took:?}");
    let read: Value =
        b.call(Method::GET, "/api/v1/vault/shared", Some(&token), None).await.json().await.unwrap();
    assert_eq!(read["ciphertext"], b64(b"two"));

    // Logout on a: b, which has the session cached, refuses the token promptly.
    assert_eq!(
        b.call(Method::GET, "/api/v1/auth/session", Some(&token), None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        a.call(Method::POST, "/api/v1/auth/logout", Some(&token), None).await.status(),
        StatusCode::NO_CONTENT
    );
    let took = promptly(|| async {
        b.call(Method::GET, "/api/v1/auth/session", Some(&token), None).await.status()
            == StatusCode::UNAUTHORIZED
    })
    .await;
    eprintln!("replica b refused the logged-out token after {took:?}");
}

fn vault_hits(app: &TestApp) -> u64 {
    app.state.changes.caches().vault_counts.hits.load(std::sync::atomic::Ordering::Relaxed)
}

/// Opens connections in `app`'s request pool until it holds several (they stay idle there),
/// so that it serves while the database refuses new ones: one open connection is not enough
/// when a background task holds it at the moment a request comes.
async fn warm_pool(app: &TestApp) {
    const OPEN: u32 = 6;
    let started = Instant::now();
    while app.store.pool_stats().0 < OPEN {
        let pings = futures::future::join_all((0..2 * OPEN).map(|_| app.store.ping())).await;
        assert!(pings.iter().all(Result::is_ok), "the database answers");
        assert!(started.elapsed() < Duration::from_secs(30), "the pool never held {OPEN} connections");
    }
}

/// Polls readiness until it answers `want`, for at most thirty seconds; returns the body.
async fn until_ready_is(app: &TestApp, want: StatusCode) -> Value {
    let started = Instant::now();
    loop {
        let resp = app.call(Method::GET, "/health/ready", None, None).await;
        if resp.status() == want {
            return resp.json().await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "readiness never became {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn replace(app: &TestApp, token: &str, etag: &str, content: &[u8]) -> String {
    let body = json!({"ciphertext": b64(content), "iv": b64(&[1u8; 8]), "salt": b64(&[1u8; 8])});
    let resp = put_json(app, token, "shared", ("if-match", etag), body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_cannot_listen_is_not_ready_and_caches_nothing() {
    let Some(d) = Deployment::production() else { return };
    let (a, b, token, first) = two_replicas_sharing_a_vault(&d).await;
    until_ready_is(&b, StatusCode::OK).await;
    warm_pool(&a).await;
    warm_pool(&b).await;

    // The listeners lose their connections, and new connections are refused; the request
    // pools keep theirs (opened above), so both replicas still serve.
    let db = database_of(&a);
    let mut admin = admin(&d).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'blindvault-listener'",
    )
    .bind(&db)
    .execute(&mut admin)
    .await
    .unwrap();
    let body = until_ready_is(&b, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["code"], "unavailable");
    assert_eq!(body["checks"], json!({"database": "ok", "object_store": "ok", "change_feed": "failed"}));

    let hits = vault_hits(&b);
    assert_eq!(etag_on(&b, &token).await, first);
    assert_eq!(etag_on(&b, &token).await, first);
    assert_eq!(vault_hits(&b), hits, "nothing cached while not listening");
    let second = replace(&a, &token, &first, b"two").await;
    assert_eq!(etag_on(&b, &token).await, second, "b, not listening, read the database");

    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")))
        .execute(&mut admin)
        .await
        .unwrap();
    let ready = until_ready_is(&b, StatusCode::OK).await;
    assert_eq!(ready["checks"]["change_feed"], "ok", "b subscribed again by itself");
    until_ready_is(&a, StatusCode::OK).await;
    assert_eq!(etag_on(&b, &token).await, second);
    assert_eq!(etag_on(&b, &token).await, second);
    assert_eq!(vault_hits(&b), hits + 1, "listening again: cached again");
    let third = replace(&a, &token, &second, b"three").await;
    let took = promptly(|| async { etag_on(&b, &token).await == third }).await;
    eprintln!("after re-subscribing, replica b saw a change after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_sees_changes_from_the_moment_it_starts() {
    let Some(d) = Deployment::production() else { return };
    let a = spawn_app(&d).await;
    let (_, token) = a.user().await;
    let resp = a.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("shared", b"one"))).await;
    let mut etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    for round in 0..5u8 {
        // Read (and cache) on a brand-new replica at once, then change the vault elsewhere.
        let b = a.sibling(&[]).await;
        assert_eq!(etag_on(&b, &token).await, etag);
        etag = replace(&a, &token, &etag, &[round]).await;
        let took = promptly(|| async { etag_on(&b, &token).await == etag }).await;
        eprintln!("a replica started just now saw the change after {took:?}");
    }
}
