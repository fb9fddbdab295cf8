//! Small bodies kept in the database (`BLINDVAULT_INLINE_BYTES`): written by the commit's own
//! transaction with nothing in the object store, read back whole and by range, kept through
//! history, restore and the trash, gone with the sweeper and the account; a write that loses
//! leaves none behind; larger bodies, bodies of unknown length and `--inline-bytes 0` still go
//! to the object store.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Deployment, TestApp, b64, on_both_deployments, rand_bytes, spawn_app, spawn_app_with};
use crate::revisions::sweep_through;
use crate::vaults_json::{read_user, replace_body, vault_body};
use blindvault::domain::Timestamp;

on_both_deployments!(
    small_bodies_live_in_the_database_until_they_go,
    writes_that_lose_keep_no_small_body,
    larger_or_unsized_bodies_and_a_zero_threshold_use_the_object_store
);

async fn stream(
    app: &TestApp,
    token: &str,
    id: &str,
    body: reqwest::Body,
    headers: &[(&str, &str)],
) -> StatusCode {
    let mut req = app
        .client
        .put(format!("{}/api/v1/vault/{id}/content", app.address))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .header("x-vault-iv", b64(&[7; 12]))
        .header("x-vault-salt", b64(&[6; 16]));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(body).send().await.unwrap().status()
}

async fn etag_of(app: &TestApp, token: &str, id: &str) -> String {
    let resp = app.call(Method::GET, &format!("/api/v1/vault/{id}"), Some(token), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

async fn small_bodies_live_in_the_database_until_they_go(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let user = read_user(&app, &token).await;
    let first = rand_bytes(4096);
    let resp = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("notes", &first))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(app.bucket_objects_of(&user).await.is_empty(), "no object-store request for 4 KiB");
    assert_eq!(app.objects_of(&user).await.len(), 1, "kept in the database");

    // Read back whole (JSON and content) and by range, through a cold cache too.
    app.state.changes.caches().clear();
    let read: Value =
        app.call(Method::GET, "/api/v1/vault/notes", Some(&token), None).await.json().await.unwrap();
    assert_eq!(read["ciphertext"], b64(&first));
    let ranged = app
        .client
        .get(format!("{}/api/v1/vault/notes/content", app.address))
        .bearer_auth(&token)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.bytes().await.unwrap(), first[100..200]);
    // Nothing to presign: a direct download of it streams through the gateway.
    let direct = app
        .client
        .get(format!("{}/api/v1/vault/notes/content?direct=true", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::OK);
    assert_eq!(direct.bytes().await.unwrap(), first);

    // A streamed write with its length known is kept in the database too.
    let second = rand_bytes(1000);
    let etag = etag_of(&app, &token, "notes").await;
    assert_eq!(
        stream(&app, &token, "notes", second.clone().into(), &[("if-match", &etag)]).await,
        StatusCode::OK
    );
    assert!(app.bucket_objects_of(&user).await.is_empty());
    assert_eq!(app.objects_of(&user).await.len(), 2, "the first revision stays for history");

    // A restore of revision 1 copies its body in the commit.
    let etag = etag_of(&app, &token, "notes").await;
    let restore = app
        .client
        .post(format!("{}/api/v1/vault/notes/revisions/1/restore", app.address))
        .bearer_auth(&token)
        .header("if-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(restore.status(), StatusCode::OK, "{}", restore.text().await.unwrap());
    let content = app
        .client
        .get(format!("{}/api/v1/vault/notes/content", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(content.bytes().await.unwrap(), first);
    assert_eq!(app.objects_of(&user).await.len(), 3);
    assert!(app.bucket_objects_of(&user).await.is_empty());

    // Into the trash and purged: the sweeper drops the bodies after the grace period.
    let resp = app.call(Method::DELETE, "/api/v1/vault/notes", Some(&token), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.objects_of(&user).await.len(), 3, "kept in the trash");
    let trash: Value = app.call(Method::GET, "/api/v1/trash", Some(&token), None).await.json().await.unwrap();
    let trash_id = trash["items"][0]["trash_id"].as_str().unwrap().to_owned();
    let purge = app.call(Method::DELETE, &format!("/api/v1/trash/{trash_id}"), Some(&token), None).await;
    assert_eq!(purge.status(), StatusCode::NO_CONTENT);
    sweep_through(&app, Timestamp::now().plus(std::time::Duration::from_secs(3600))).await;
    assert!(app.objects_of(&user).await.is_empty(), "swept like objects");

    // And an account's small bodies go with it.
    let resp =
        app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("more", &[5; 64]))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(app.objects_of(&user).await.len(), 1);
    let confirm = json!({"auth_hash": b64(&creds.auth_hash)});
    let gone = app.call(Method::DELETE, "/api/v1/account", Some(&token), Some(confirm)).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert!(app.objects_of(&user).await.is_empty());
}

async fn writes_that_lose_keep_no_small_body(d: Deployment) {
    let app = spawn_app_with(&d, &["--quota-bytes", "10000"]).await;
    let (_, token) = app.user().await;
    let user = read_user(&app, &token).await;
    let resp = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("v", &[1; 100]))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    // Eight concurrent replaces from the same revision: one wins, seven get 412.
    let etag = etag_of(&app, &token, "v").await;
    let tasks = (0..8u8).map(|n| {
        let (app, token, etag) = (&app, &token, &etag);
        async move {
            let req = app
                .client
                .put(format!("{}/api/v1/vault/v", app.address))
                .bearer_auth(token)
                .header("if-match", etag.as_str())
                .json(&replace_body(&[n; 200]));
            req.send().await.unwrap().status()
        }
    });
    let statuses = futures::future::join_all(tasks).await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::PRECONDITION_FAILED).count(), 7);
    // A create over the byte quota, and a create of an id that exists with other content.
    let over = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("w", &[2; 9900]))).await;
    assert_eq!(over.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let taken = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("v", &[3; 10]))).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert_eq!(app.objects_of(&user).await.len(), 2, "the first revision and the winner's, nothing else");
}

async fn larger_or_unsized_bodies_and_a_zero_threshold_use_the_object_store(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let user = read_user(&app, &token).await;
    let big = rand_bytes(16 * 1024 + 1);
    let resp = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("big", &big))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(app.bucket_objects_of(&user).await.len(), 1, "over 16 KiB: an object");
    // Chunked, no Content-Length: streamed to the object store whatever its size.
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"tiny"))]);
    let status =
        stream(&app, &token, "chunked", reqwest::Body::wrap_stream(chunks), &[("if-none-match", "*")]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(app.bucket_objects_of(&user).await.len(), 2);
    assert_eq!(app.objects_of(&user).await.len(), 2, "nothing in the database");

    let off = spawn_app_with(&d, &["--inline-bytes", "0"]).await;
    let (_, token) = off.user().await;
    let user = read_user(&off, &token).await;
    let resp = off.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("s", &[1; 10]))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(off.bucket_objects_of(&user).await.len(), 1, "every body in the object store");
    assert_eq!(off.objects_of(&user).await.len(), 1);
}
