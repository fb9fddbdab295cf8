//! Direct uploads (`/api/v1/vault/{id}/direct-uploads`): parts go to the object store through
//! URLs the server signs, the commit is the same compare-and-swap as any write, and what is
//! not as declared commits nothing. The SDK uses them where offered and falls back otherwise.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blindvault::client::{Client, Precondition};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Deployment, TestApp, assert_problem, b64, on_both_deployments, rand_bytes, spawn_app};
use crate::hostile::HostileProxy;

on_both_deployments!(direct_uploads_commit_only_what_was_declared, the_sdk_uploads_directly_and_falls_back);

fn creation(length: u64) -> Value {
    json!({ "length": length, "iv": b64(&[1; 12]), "salt": b64(&[2; 32]), "version": 1 })
}

/// `POST` to `path` (under the vault `v`'s direct uploads) as `token`, with `precondition`.
async fn post(
    app: &TestApp,
    token: &str,
    path: &str,
    precondition: Option<(&str, &str)>,
    body: Value,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(format!("{}/api/v1/vault/v/direct-uploads{path}", app.address))
        .bearer_auth(token)
        .json(&body);
    if let Some((name, value)) = precondition {
        req = req.header(name, value);
    }
    req.send().await.unwrap()
}

/// Asks for part `number`'s URL for `bytes` and sends them there; its ETag.
async fn send_part(app: &TestApp, token: &str, upload: &str, number: u32, bytes: &[u8]) -> String {
    let sha = STANDARD.encode(Sha256::digest(bytes));
    let resp = post(app, token, &format!("/{upload}/parts/{number}"), None, json!({ "sha256": sha })).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let target: Value = resp.json().await.unwrap();
    assert_eq!(target["headers"]["x-amz-checksum-sha256"], sha.as_str());
    let mut put = reqwest::Client::new().put(target["url"].as_str().unwrap()).body(bytes.to_vec());
    for (name, value) in target["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let resp = put.send().await.unwrap();
    assert!(resp.status().is_success(), "the object store took the part: {}", resp.status());
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

fn done(etag: &str, bytes: &[u8]) -> Value {
    json!({ "etag": etag, "sha256": STANDARD.encode(Sha256::digest(bytes)) })
}

async fn content(app: &TestApp, token: &str) -> (StatusCode, Vec<u8>) {
    let resp = app.call(Method::GET, "/api/v1/vault/v/content", Some(token), None).await;
    (resp.status(), resp.bytes().await.unwrap().to_vec())
}

pub(crate) async fn direct_uploads_commit_only_what_was_declared(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let created = post(&app, &token, "", Some(("if-none-match", "*")), creation(10)).await;
    if matches!(d, Deployment::Embedded) {
        assert_problem(created, StatusCode::CONFLICT, "direct_unavailable").await;
        return;
    }
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!((created["parts"].as_u64(), created["part_size"].as_u64()), (Some(1), Some(8 << 20)));
    let upload = created["upload_id"].as_str().unwrap().to_owned();
    assert_problem(
        post(&app, &token, "", None, creation(10)).await,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition_required",
    )
    .await;
    let huge = creation(1 << 40);
    assert_eq!(
        post(&app, &token, "", Some(("if-none-match", "*")), huge).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    for (number, sha) in [(0, STANDARD.encode([0; 32])), (2, STANDARD.encode([0; 32])), (1, b64(b"short"))] {
        let resp =
            post(&app, &token, &format!("/{upload}/parts/{number}"), None, json!({ "sha256": sha })).await;
        assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    }
    let (_, stranger) = app.user().await;
    let sha = json!({ "sha256": STANDARD.encode([0; 32]) });
    let theirs = post(&app, &stranger, &format!("/{upload}/parts/1"), None, sha).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND, "another user's upload is not there");
    let tus = app.client.head(format!("{}/api/v1/uploads/{upload}", app.address)).bearer_auth(&token);
    let tus = tus.header("tus-resumable", "1.0.0").send().await.unwrap();
    assert_eq!(tus.status(), StatusCode::NOT_FOUND, "a direct upload is no tus upload");

    // Parts that are not as declared commit nothing.
    let data = rand_bytes(10);
    let etag = send_part(&app, &token, &upload, 1, &data).await;
    let commit_path = format!("/{upload}/commit");
    let commit = |parts: Value| post(&app, &token, &commit_path, None, json!({ "parts": parts }));
    assert_problem(commit(json!([])).await, StatusCode::UNPROCESSABLE_ENTITY, "parts_mismatch").await;
    let wrong = json!([done("\"0123456789abcdef0123456789abcdef\"", &data)]);
    assert_problem(commit(wrong).await, StatusCode::UNPROCESSABLE_ENTITY, "parts_mismatch").await;
    assert_eq!(content(&app, &token).await.0, StatusCode::NOT_FOUND, "nothing committed");

    // The real parts commit, once; asking again answers the same.
    let committed = commit(json!([done(&etag, &data)])).await;
    assert_eq!(committed.status(), StatusCode::CREATED);
    let vault: Value = committed.json().await.unwrap();
    assert_eq!((vault["revision"].as_u64(), vault["size"].as_u64()), (Some(1), Some(10)));
    assert_eq!(content(&app, &token).await, (StatusCode::OK, data.clone()));
    let again = commit(json!([done(&etag, &data)])).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["etag"], vault["etag"]);

    // An object shorter than declared ends the upload and changes nothing.
    let current = vault["etag"].as_str().unwrap().to_owned();
    let short: Value =
        post(&app, &token, "", Some(("if-match", &current)), creation(20)).await.json().await.unwrap();
    let short_id = short["upload_id"].as_str().unwrap().to_owned();
    let etag = send_part(&app, &token, &short_id, 1, &data).await;
    let resp =
        post(&app, &token, &format!("/{short_id}/commit"), None, json!({ "parts": [done(&etag, &data)] }))
            .await;
    assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "parts_mismatch").await;
    assert_eq!(content(&app, &token).await, (StatusCode::OK, data.clone()));
    let gone = post(&app, &token, &format!("/{short_id}/commit"), None, json!({ "parts": [] })).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    // The precondition holds at the commit: a write in between wins, this one is refused.
    let racing: Value =
        post(&app, &token, "", Some(("if-match", &current)), creation(5)).await.json().await.unwrap();
    let racing_id = racing["upload_id"].as_str().unwrap().to_owned();
    let newer = rand_bytes(5);
    let etag = send_part(&app, &token, &racing_id, 1, &newer).await;
    let body = json!({ "ciphertext": b64(b"other"), "iv": b64(&[3; 12]), "salt": b64(&[4; 32]) });
    let replaced = app.client.put(format!("{}/api/v1/vault/v", app.address)).bearer_auth(&token);
    let replaced = replaced.header("if-match", &current).json(&body).send().await.unwrap();
    assert_eq!(replaced.status(), StatusCode::OK);
    let resp =
        post(&app, &token, &format!("/{racing_id}/commit"), None, json!({ "parts": [done(&etag, &newer)] }))
            .await;
    assert_problem(resp, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    assert_eq!(content(&app, &token).await, (StatusCode::OK, b"other".to_vec()));

    // Cancelled, it is gone.
    let cancelled: Value =
        post(&app, &token, "", Some(("if-match", "*")), creation(5)).await.json().await.unwrap();
    let path = format!("/api/v1/vault/v/direct-uploads/{}", cancelled["upload_id"].as_str().unwrap());
    assert_eq!(app.call(Method::DELETE, &path, Some(&token), None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::DELETE, &path, Some(&token), None).await.status(), StatusCode::NOT_FOUND);
}

pub(crate) async fn the_sdk_uploads_directly_and_falls_back(d: Deployment) {
    let app = spawn_app(&d).await;
    let proxy = HostileProxy::start(&app.address).await;
    let client = Client::new(&proxy.address).unwrap();
    client.register("ida", "direct password", 600_000).await.unwrap();
    let (keys, _) = client.login("ida", "direct password", &[]).await.unwrap();
    // Three parts: 8 MiB, 8 MiB and the rest.
    let plain = rand_bytes(20 << 20);
    proxy.clear();
    let info = client
        .put_sized(
            &keys,
            "big",
            std::io::Cursor::new(plain.clone()),
            plain.len() as u64,
            &Precondition::Absent,
        )
        .await
        .unwrap();
    let through_gateway: usize = proxy.sent().iter().map(|s| s.body.len()).sum();
    let direct = !matches!(d, Deployment::Embedded);
    if direct {
        assert!(through_gateway < 100_000, "{through_gateway} bytes through the gateway");
        let parts = proxy.sent().iter().filter(|s| s.path.contains("/parts/")).count();
        assert_eq!(parts, 3);
    } else {
        assert!(through_gateway > plain.len(), "embedded: the bytes went through the gateway");
    }
    let mut out = Vec::new();
    client.get_stream(&keys, "big", &mut out, |_, _| {}).await.unwrap();
    assert!(out == plain, "the vault reads back");

    // An object store the client cannot reach: the same put goes through the gateway.
    if direct {
        let unreachable = app.sibling(&["--s3-public-endpoint", "http://127.0.0.1:9"]).await;
        let other = Client::new(&unreachable.address).unwrap();
        let (keys, _) = other.login("ida", "direct password", &[]).await.unwrap();
        let small = rand_bytes(100_000);
        let etag = Precondition::Etag(info.etag.clone());
        other
            .put_sized(&keys, "big", std::io::Cursor::new(small.clone()), small.len() as u64, &etag)
            .await
            .unwrap();
        let mut out = Vec::new();
        other.get_stream(&keys, "big", &mut out, |_, _| {}).await.unwrap();
        assert!(out == small);
    }
    // A length that is not the input's commits nothing.
    let wrong =
        client.put_sized(&keys, "odd", std::io::Cursor::new(vec![1u8; 10]), 11, &Precondition::Absent).await;
    assert!(wrong.is_err());
    assert!(client.list().await.unwrap().iter().all(|v| v.vault_id != "odd"));
}
