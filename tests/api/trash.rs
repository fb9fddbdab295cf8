//! The trash over HTTP on both deployments: a delete moves a vault there with its history and
//! frees its id; it comes back under its id (409 while a live vault holds it) or another;
//! purging and expiry remove it and its objects; the account's usage counts history and
//! trash against the quota; with the trash turned off a delete is final.

use std::time::Duration;

use blindvault::domain::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Deployment, TestApp, assert_problem, b64, on_both_deployments, spawn_app, spawn_app_with,
};
use crate::revisions::{app_user, sweep_through, write_revisions};
use crate::vaults_json::{put_json, replace_body, vault_body};

on_both_deployments!(
    deleted_vaults_wait_in_the_trash_and_come_back,
    purging_and_expiry_empty_the_store,
    usage_counts_history_and_trash_against_the_quota,
    usage_counts_match_what_is_stored,
    without_a_trash_a_delete_is_final,
);

async fn trash(app: &TestApp, token: &str) -> Vec<Value> {
    let resp = app.call(Method::GET, "/api/v1/trash", Some(token), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().await.unwrap()["items"].as_array().unwrap().clone()
}

async fn delete(app: &TestApp, token: &str, id: &str) {
    let resp = app.call(Method::DELETE, &format!("/api/v1/vault/{id}"), Some(token), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

async fn untrash(app: &TestApp, token: &str, trash_id: &str, body: Option<Value>) -> reqwest::Response {
    app.call(Method::POST, &format!("/api/v1/trash/{trash_id}/restore"), Some(token), body).await
}

async fn user_id(app: &TestApp, token: &str) -> String {
    app.stored_user(&app_user(app, token).await).await.id.to_string()
}

pub(crate) async fn deleted_vaults_wait_in_the_trash_and_come_back(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let etags = write_revisions(&app, &token, "notes", &[b"one", b"two"]).await;
    delete(&app, &token, "notes").await;
    let gone = app.call(Method::GET, "/api/v1/vault/notes", Some(&token), None).await;
    assert_problem(gone, StatusCode::NOT_FOUND, "not_found").await;
    let list: Value = app.call(Method::GET, "/api/v1/vault", Some(&token), None).await.json().await.unwrap();
    assert_eq!(list["items"], json!([]));
    let entries = trash(&app, &token).await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!((entry["vault_id"].as_str(), entry["revision"].as_u64()), (Some("notes"), Some(2)));
    assert_eq!(
        (entry["etag"].as_str(), entry["history_revisions"].as_u64()),
        (Some(etags[1].as_str()), Some(1))
    );
    assert_eq!(entry["history_size"], 3);
    let trash_id = entry["trash_id"].as_str().unwrap().to_owned();

    // The id is free again, and a new vault there starts without the old one's history.
    let fresh = write_revisions(&app, &token, "notes", &[b"new"]).await;
    let revisions: Value = app
        .call(Method::GET, "/api/v1/vault/notes/revisions", Some(&token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revisions["items"].as_array().unwrap().len(), 1);
    let taken = untrash(&app, &token, &trash_id, None).await;
    assert_eq!(taken.headers()["etag"], fresh[0].as_str());
    assert_problem(taken, StatusCode::CONFLICT, "vault_exists").await;
    let bad_id = untrash(&app, &token, &trash_id, Some(json!({"vault_id": "a/b"}))).await;
    assert_problem(bad_id, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(trash(&app, &token).await.len(), 1, "refusals change nothing");

    let back =
        untrash(&app, &token, &trash_id, Some(json!({"vault_id": "notes-old", "receipt": b64(&[4; 16])})))
            .await;
    assert_eq!(back.status(), StatusCode::CREATED);
    assert_eq!(back.headers()["location"], "/api/v1/vault/notes-old");
    assert_eq!(back.headers()["etag"], etags[1].as_str());
    let body: Value = back.json().await.unwrap();
    assert_eq!((body["written_as"].as_str(), body["revision"].as_u64()), (Some("notes"), Some(2)));
    assert_eq!((body["rename_receipt"].as_str(), body.get("receipt")), (Some(b64(&[4; 16]).as_str()), None));
    let read: Value =
        app.call(Method::GET, "/api/v1/vault/notes-old", Some(&token), None).await.json().await.unwrap();
    assert_eq!(read["ciphertext"], b64(b"two"));
    let old: Value = app
        .call(Method::GET, "/api/v1/vault/notes-old/revisions/1", Some(&token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (old["ciphertext"].as_str(), old["written_as"].as_str()),
        (Some(b64(b"one").as_str()), Some("notes"))
    );
    assert!(trash(&app, &token).await.is_empty());
    assert_problem(untrash(&app, &token, &trash_id, None).await, StatusCode::NOT_FOUND, "not_found").await;
    for path in
        ["/api/v1/trash/not-a-uuid/restore", "/api/v1/trash/00000000-0000-0000-0000-000000000000/restore"]
    {
        let resp = app.call(Method::POST, path, Some(&token), None).await;
        assert_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Another user sees nothing of it.
    let (_, other) = app.user().await;
    assert!(trash(&app, &other).await.is_empty());
}

pub(crate) async fn purging_and_expiry_empty_the_store(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let user = user_id(&app, &token).await;
    write_revisions(&app, &token, "a", &[b"a1", b"a2", b"a3"]).await;
    write_revisions(&app, &token, "b", &[b"b1", b"b2"]).await;
    delete(&app, &token, "a").await;
    delete(&app, &token, "b").await;
    let entries = trash(&app, &token).await;
    assert_eq!(
        entries.iter().map(|e| e["vault_id"].as_str().unwrap()).collect::<Vec<_>>(),
        ["b", "a"],
        "newest first"
    );
    let a = entries[1]["trash_id"].as_str().unwrap();
    let purged = app.call(Method::DELETE, &format!("/api/v1/trash/{a}"), Some(&token), None).await;
    assert_eq!(purged.status(), StatusCode::NO_CONTENT);
    let again = app.call(Method::DELETE, &format!("/api/v1/trash/{a}"), Some(&token), None).await;
    assert_problem(again, StatusCode::NOT_FOUND, "not_found").await;
    sweep_through(&app, Timestamp::now()).await;
    assert_eq!(app.objects_of(&user).await.len(), 2, "a's three objects are gone; b waits in the trash");
    // The expiry is logged, and a reader waiting on the feed hears of it at once.
    let head: Value =
        app.call(Method::GET, "/api/v1/changes", Some(&token), None).await.json().await.unwrap();
    let waiting = format!("/api/v1/changes?since={}&wait=30", head["cursor"].as_str().unwrap());
    let started = std::time::Instant::now();
    let (heard, ()) = tokio::join!(app.call(Method::GET, &waiting, Some(&token), None), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sweep_through(&app, Timestamp::now().plus(Duration::from_secs(30 * 86400 + 1))).await;
    });
    let heard: Value = heard.json().await.unwrap();
    assert_eq!(
        (heard["changes"][0]["kind"].as_str(), heard["changes"][0]["vault_id"].as_str()),
        (Some("purge"), Some("b"))
    );
    assert!(started.elapsed() < Duration::from_secs(10), "woken by the sweeper, not by the end of the wait");
    assert!(trash(&app, &token).await.is_empty(), "expired after BLINDVAULT_TRASH_FOR");
    assert!(app.objects_of(&user).await.is_empty());
}

async fn usage(app: &TestApp, token: &str) -> Value {
    let resp = app.call(Method::GET, "/api/v1/account", Some(token), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().await.unwrap()["usage"].clone()
}

pub(crate) async fn usage_counts_history_and_trash_against_the_quota(d: Deployment) {
    let app = spawn_app_with(&d, &["--quota-bytes", "1000"]).await;
    let (_, token) = app.user().await;
    let etags = write_revisions(&app, &token, "big", &[&[1; 600], &[2; 300]]).await;
    let used = usage(&app, &token).await;
    assert_eq!(
        (
            used["bytes"].as_u64(),
            used["history_bytes"].as_u64(),
            used["history_revisions"].as_u64(),
            used["counted_bytes"].as_u64()
        ),
        (Some(300), Some(600), Some(1), Some(900))
    );
    let over =
        app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("more", &[3; 200]))).await;
    assert_problem(over, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    let over = put_json(&app, &token, "big", ("if-match", &etags[1]), replace_body(&[4; 200])).await;
    assert_problem(over, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    delete(&app, &token, "big").await;
    let used = usage(&app, &token).await;
    assert_eq!(
        (used["bytes"].as_u64(), used["trash_bytes"].as_u64(), used["trash_vaults"].as_u64()),
        (Some(0), Some(900), Some(1))
    );
    let over =
        app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("more", &[3; 200]))).await;
    assert_problem(over, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    let trash_id = trash(&app, &token).await[0]["trash_id"].as_str().unwrap().to_owned();
    app.call(Method::DELETE, &format!("/api/v1/trash/{trash_id}"), Some(&token), None).await;
    assert_eq!(usage(&app, &token).await["counted_bytes"], 0);
    let fits =
        app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("more", &[3; 200]))).await;
    assert_eq!(fits.status(), StatusCode::CREATED);
}

/// The usage the account reports (counted by triggers as rows change) against sums over the
/// rows themselves, after each step: creates, replaces that keep or change the size while the
/// history window fills and trims, a delete into the trash and a restore.
pub(crate) async fn usage_counts_match_what_is_stored(d: Deployment) {
    let app = spawn_app_with(&d, &["--keep-revisions", "2"]).await;
    let (_, token) = app.user().await;
    let same = |counted: Value, summed: Vec<String>| {
        let fields = ["bytes", "vaults", "history_bytes", "history_revisions", "trash_bytes", "trash_vaults"];
        let counted: Vec<String> = fields.iter().map(|f| counted[f].as_u64().unwrap().to_string()).collect();
        let summed: Vec<String> = summed[0].split(' ').map(str::to_owned).collect();
        assert_eq!(counted, summed, "{fields:?}");
    };
    let sums = "SELECT (SELECT COALESCE(SUM(size), 0) || ' ' || COUNT(*) || ' ' || COALESCE(SUM(history_bytes), 0) \
                        || ' ' || COALESCE(SUM(history_count), 0) FROM vaults) \
                    || ' ' || (SELECT COALESCE(SUM(size + history_bytes), 0) || ' ' || COUNT(*) FROM trash)";
    let steps: [&[&[u8]]; 3] =
        [&[&[1; 100], &[2; 100]], &[&[3; 250], &[4; 250], &[5; 250]], &[&[6; 40], &[7; 40]]];
    let mut etag: Option<String> = None;
    for bodies in steps {
        for body in bodies {
            let resp = match &etag {
                None => {
                    app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("a", body))).await
                }
                Some(e) => put_json(&app, &token, "a", ("if-match", e), replace_body(body)).await,
            };
            assert!(resp.status().is_success(), "{}", resp.status());
            etag = Some(resp.headers()["etag"].to_str().unwrap().to_owned());
            same(usage(&app, &token).await, crate::migrations::sql(&app, &[sums]).await);
        }
    }
    let used = usage(&app, &token).await;
    assert_eq!((used["bytes"].as_u64(), used["history_bytes"].as_u64()), (Some(40), Some(290)), "{used}");
    write_revisions(&app, &token, "b", &[&[8; 60], &[9; 70]]).await;
    same(usage(&app, &token).await, crate::migrations::sql(&app, &[sums]).await);
    delete(&app, &token, "b").await;
    same(usage(&app, &token).await, crate::migrations::sql(&app, &[sums]).await);
    let trash_id = trash(&app, &token).await[0]["trash_id"].as_str().unwrap().to_owned();
    assert_eq!(untrash(&app, &token, &trash_id, None).await.status(), StatusCode::CREATED);
    let used = usage(&app, &token).await;
    assert_eq!(
        (used["bytes"].as_u64(), used["vaults"].as_u64(), used["trash_vaults"].as_u64()),
        (Some(110), Some(2), Some(0))
    );
    same(used, crate::migrations::sql(&app, &[sums]).await);
}

pub(crate) async fn without_a_trash_a_delete_is_final(d: Deployment) {
    let app = spawn_app_with(&d, &["--trash-for", "0s"]).await;
    let (_, token) = app.user().await;
    let user = user_id(&app, &token).await;
    write_revisions(&app, &token, "notes", &[b"one", b"two"]).await;
    delete(&app, &token, "notes").await;
    assert!(trash(&app, &token).await.is_empty());
    sweep_through(&app, Timestamp::now()).await;
    assert!(app.objects_of(&user).await.is_empty(), "the vault and its history are gone");
}
