//! Revision history over HTTP on both deployments: listing and paging, reading an earlier
//! revision as JSON and as a ranged, conditional stream, retention by count and by age with
//! the objects gone from the store afterwards, and restores as compare-and-swap writes
//! (428 without If-Match, 412 when stale, one winner among racing restores and writes).

use std::time::Duration;

use blindvault::domain::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Deployment, TestApp, assert_problem, b64, on_both_deployments, spawn_app, spawn_app_with,
};
use crate::vaults_json::{put_json, replace_body, vault_body};

on_both_deployments!(
    revisions_are_listed_read_and_streamed,
    retention_by_age_keeps_then_drops_with_the_objects,
    restores_are_compare_and_swap_writes,
);

/// Creates vault `id` with `bodies[0]`, then replaces it with each next body; returns the
/// etags (quoted), oldest first.
pub async fn write_revisions(app: &TestApp, token: &str, id: &str, bodies: &[&[u8]]) -> Vec<String> {
    let mut etags: Vec<String> = Vec::new();
    for body in bodies {
        let resp = match etags.last() {
            None => app.call(Method::POST, "/api/v1/vault", Some(token), Some(vault_body(id, body))).await,
            Some(etag) => put_json(app, token, id, ("if-match", etag), replace_body(body)).await,
        };
        assert!(resp.status().is_success(), "{}", resp.status());
        etags.push(resp.headers()["etag"].to_str().unwrap().to_owned());
    }
    etags
}

async fn listed(app: &TestApp, token: &str, query: &str) -> Value {
    let resp =
        app.call(Method::GET, &format!("/api/v1/vault/notes/revisions{query}"), Some(token), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

fn revision_numbers(list: &Value) -> Vec<u64> {
    list["items"].as_array().unwrap().iter().map(|v| v["revision"].as_u64().unwrap()).collect()
}

/// Sweeps as of `at`, then once more past the grace period of what that queued.
pub async fn sweep_through(app: &TestApp, at: Timestamp) {
    app.state.sweeper.sweep(at).await.unwrap();
    app.state.sweeper.sweep(at.plus(Duration::from_secs(301))).await.unwrap();
}

pub(crate) async fn revisions_are_listed_read_and_streamed(d: Deployment) {
    let app = spawn_app_with(&d, &["--keep-revisions", "2"]).await;
    let (_, token) = app.user().await;
    let etags =
        write_revisions(&app, &token, "notes", &[b"first", b"second", b"third", b"fourth", b"fifth"]).await;
    let all = listed(&app, &token, "").await;
    assert_eq!(revision_numbers(&all), [5, 4, 3], "the current one and the last two");
    assert_eq!(all["items"][1]["etag"], etags[3].as_str());
    let first = listed(&app, &token, "?limit=2").await;
    assert_eq!(revision_numbers(&first), [5, 4]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = listed(&app, &token, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!((revision_numbers(&rest), rest["next_cursor"].clone()), (vec![3], Value::Null));

    let resp = app.call(Method::GET, "/api/v1/vault/notes/revisions/4", Some(&token), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["etag"], etags[3].as_str());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["ciphertext"].as_str(), body["revision"].as_u64()),
        (Some(b64(b"fourth").as_str()), Some(4))
    );
    assert_eq!(body["content_url"], "/api/v1/vault/notes/revisions/4/content");

    let ranged = app
        .client
        .get(format!("{}/api/v1/vault/notes/revisions/3/content", app.address))
        .bearer_auth(&token)
        .header("range", "bytes=1-3")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.headers()["content-range"], "bytes 1-3/5");
    assert_eq!(ranged.headers()["etag"], etags[2].as_str());
    assert_eq!(&ranged.bytes().await.unwrap()[..], b"hir");
    let unchanged = app
        .client
        .get(format!("{}/api/v1/vault/notes/revisions/3/content", app.address))
        .bearer_auth(&token)
        .header("if-none-match", etags[2].as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    for path in [
        "/api/v1/vault/notes/revisions/2",
        "/api/v1/vault/notes/revisions/x",
        "/api/v1/vault/other/revisions",
    ] {
        let resp = app.call(Method::GET, path, Some(&token), None).await;
        assert_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Revisions 1 and 2 left the window: their objects go once the grace period has passed.
    let user = app.stored_user(&app_user(&app, &token).await).await.id.to_string();
    assert_eq!(app.objects_of(&user).await.len(), 5, "kept for readers during the grace period");
    sweep_through(&app, Timestamp::now()).await;
    assert_eq!(app.objects_of(&user).await.len(), 3);
}

/// The username of the token's user.
pub async fn app_user(app: &TestApp, token: &str) -> String {
    let resp = app.call(Method::GET, "/api/v1/account", Some(token), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().await.unwrap()["username"].as_str().unwrap().to_owned()
}

pub(crate) async fn retention_by_age_keeps_then_drops_with_the_objects(d: Deployment) {
    let app = spawn_app_with(&d, &["--keep-revisions", "0", "--keep-for", "1h"]).await;
    let (_, token) = app.user().await;
    write_revisions(&app, &token, "notes", &[b"one", b"two", b"three"]).await;
    let user = app.stored_user(&app_user(&app, &token).await).await.id.to_string();
    sweep_through(&app, Timestamp::now()).await;
    assert_eq!(revision_numbers(&listed(&app, &token, "").await), [3, 2, 1], "younger than an hour");
    assert_eq!(app.objects_of(&user).await.len(), 3);
    sweep_through(&app, Timestamp::now().plus(Duration::from_secs(3601))).await;
    assert_eq!(revision_numbers(&listed(&app, &token, "").await), [3]);
    assert_eq!(app.objects_of(&user).await.len(), 1, "the dropped revisions' objects are gone");
}

async fn restore(
    app: &TestApp,
    token: &str,
    revision: u64,
    if_match: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(format!("{}/api/v1/vault/notes/revisions/{revision}/restore", app.address))
        .bearer_auth(token);
    if let Some(etag) = if_match {
        req = req.header("if-match", etag);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

pub(crate) async fn restores_are_compare_and_swap_writes(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let etags = write_revisions(&app, &token, "notes", &[b"one", b"two"]).await;
    assert_problem(
        restore(&app, &token, 1, None, None).await,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition_required",
    )
    .await;
    let stale = restore(&app, &token, 1, Some(&etags[0]), None).await;
    assert_eq!(stale.headers()["etag"], etags[1].as_str());
    assert_problem(stale, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    assert_problem(restore(&app, &token, 7, Some(&etags[1]), None).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    let bad = restore(&app, &token, 1, Some(&etags[1]), Some(json!({"receipt": "%%%"}))).await;
    assert_problem(bad, StatusCode::BAD_REQUEST, "invalid_base64").await;
    let short = restore(&app, &token, 1, Some(&etags[1]), Some(json!({"receipt": b64(b"abc")}))).await;
    assert_problem(short, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;

    let receipt = b64(&[9u8; 32]);
    let done = restore(&app, &token, 1, Some(&etags[1]), Some(json!({"receipt": receipt}))).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(done.headers()["x-restored-from"], "1");
    let new_etag = done.headers()["etag"].to_str().unwrap().to_owned();
    assert!(!etags.contains(&new_etag));
    let body: Value = done.json().await.unwrap();
    assert_eq!((body["revision"].as_u64(), body["receipt"].as_str()), (Some(3), Some(receipt.as_str())));
    let read: Value =
        app.call(Method::GET, "/api/v1/vault/notes", Some(&token), None).await.json().await.unwrap();
    assert_eq!(
        (read["ciphertext"].as_str(), read["receipt"].as_str()),
        (Some(b64(b"one").as_str()), Some(receipt.as_str()))
    );

    // Two restores and a write on the same etag: one compare-and-swap wins.
    let (a, b, c) = tokio::join!(
        restore(&app, &token, 1, Some(&new_etag), None),
        restore(&app, &token, 2, Some(&new_etag), None),
        put_json(&app, &token, "notes", ("if-match", &new_etag), replace_body(b"four")),
    );
    let statuses = [a.status(), b.status(), c.status()];
    assert_eq!(statuses.iter().filter(|s| s.is_success()).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::PRECONDITION_FAILED).count(), 2, "{statuses:?}");
    let list = listed(&app, &token, "").await;
    assert_eq!(revision_numbers(&list), [4, 3, 2, 1]);
}
