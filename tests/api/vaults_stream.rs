use bytes::Bytes;
use futures::{StreamExt, stream};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{
    Deployment, TestApp, assert_problem, b64, on_both_deployments, rand_bytes, spawn_app, spawn_app_with,
};
use crate::vaults_json::{read_user, vault_body};

on_both_deployments!(
    content_round_trips_with_ranges,
    content_and_json_share_etags,
    bad_uploads_change_nothing,
    an_interrupted_upload_keeps_the_previous_revision,
    of_concurrent_writers_exactly_one_wins,
);

type Chunk = Result<Bytes, std::io::Error>;

fn upload(app: &TestApp, token: &str, id: &str, precondition: (&str, &str)) -> reqwest::RequestBuilder {
    upload_with(app, token, id, &[precondition])
}

/// A content upload with the usual headers, each replaced by `overrides` where named there.
fn upload_with(app: &TestApp, token: &str, id: &str, overrides: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let (iv, salt) = (b64(&[9u8; 12]), b64(&[8u8; 32]));
    let defaults = [
        ("content-type", "application/octet-stream"),
        ("x-vault-iv", iv.as_str()),
        ("x-vault-salt", salt.as_str()),
        ("x-vault-version", "3"),
    ];
    let mut req = app.client.put(format!("{}/api/v1/vault/{id}/content", app.address)).bearer_auth(token);
    for (name, value) in defaults.iter().filter(|(n, _)| !overrides.iter().any(|(o, _)| o == n)) {
        req = req.header(*name, *value);
    }
    for (name, value) in overrides {
        req = req.header(*name, *value);
    }
    req
}

fn chunked(data: &[u8]) -> reqwest::Body {
    let chunks: Vec<Chunk> = data.chunks(100_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    reqwest::Body::wrap_stream(stream::iter(chunks))
}

fn content(app: &TestApp, token: &str, id: &str, method: Method) -> reqwest::RequestBuilder {
    app.client.request(method, format!("{}/api/v1/vault/{id}/content", app.address)).bearer_auth(token)
}

pub(crate) async fn content_round_trips_with_ranges(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let data = rand_bytes(3 * 1024 * 1024 + 17);
    let resp =
        upload(&app, &token, "backup", ("if-none-match", "*")).body(chunked(&data)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let created: Value = resp.json().await.unwrap();
    assert_eq!((created["size"].as_u64(), created["version"].as_i64()), (Some(data.len() as u64), Some(3)));

    let resp = content(&app, &token, "backup", Method::GET).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["etag"], etag.as_str());
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["content-length"], data.len().to_string().as_str());
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["x-vault-iv"], b64(&[9u8; 12]).as_str());
    assert_eq!(h["x-vault-salt"], b64(&[8u8; 32]).as_str());
    assert_eq!(h["x-vault-version"], "3");
    assert!(resp.bytes().await.unwrap() == data, "byte for byte");

    let resp = content(&app, &token, "backup", Method::HEAD).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    for name in ["etag", "content-length", "x-vault-iv", "x-vault-salt", "x-vault-version", "accept-ranges"] {
        assert_eq!(resp.headers()[name], h[name], "{name}");
    }
    assert!(resp.bytes().await.unwrap().is_empty());

    let ranged =
        |range: &'static str| content(&app, &token, "backup", Method::GET).header("range", range).send();
    let resp = ranged("bytes=10-19").await.unwrap();
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.headers()["content-range"], format!("bytes 10-19/{}", data.len()).as_str());
    assert_eq!(resp.bytes().await.unwrap(), &data[10..20]);
    let resp = ranged("bytes=-5").await.unwrap();
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.bytes().await.unwrap(), &data[data.len() - 5..]);
    let resp = ranged("bytes=99999999-").await.unwrap();
    assert_eq!(resp.headers()["content-range"], format!("bytes */{}", data.len()).as_str());
    assert_problem(resp, StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable").await;

    let if_range = |tag: String| {
        content(&app, &token, "backup", Method::GET)
            .header("range", "bytes=0-0")
            .header("if-range", tag)
            .send()
    };
    assert_eq!(if_range(etag.clone()).await.unwrap().status(), StatusCode::PARTIAL_CONTENT);
    let resp = if_range("\"stale\"".into()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "If-Range that does not match: the whole vault");
    assert_eq!(resp.bytes().await.unwrap().len(), data.len());

    let resp =
        content(&app, &token, "backup", Method::GET).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(resp.headers()["etag"], etag.as_str());
}

async fn content_and_json_share_etags(d: Deployment) {
    let app = spawn_app_with(&d, &["--max-json-vault-bytes", "1000"]).await;
    let (_, token) = app.user().await;
    let resp = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("v", b"small"))).await;
    let json_etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let resp = content(&app, &token, "v", Method::HEAD).send().await.unwrap();
    assert_eq!(resp.headers()["etag"], json_etag.as_str(), "one revision, one ETag");

    // Replace through the raw endpoint with the JSON's ETag; a larger-than-JSON vault then
    // reads back through JSON with `ciphertext: null` and a content URL.
    let big = rand_bytes(5000);
    let resp = upload(&app, &token, "v", ("if-match", &json_etag)).body(big.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let raw_etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let read = app.call(Method::GET, "/api/v1/vault/v", Some(&token), None).await;
    assert_eq!(read.headers()["etag"], raw_etag.as_str());
    let read: Value = read.json().await.unwrap();
    assert!(read["ciphertext"].is_null());
    assert_eq!((read["size"].as_u64(), read["revision"].as_i64()), (Some(5000), Some(2)));
    let url = format!("{}{}", app.address, read["content_url"].as_str().unwrap());
    assert_eq!(app.client.get(url).bearer_auth(&token).send().await.unwrap().bytes().await.unwrap(), big);
}

async fn bad_uploads_change_nothing(d: Deployment) {
    let app = spawn_app_with(&d, &["--max-vault-bytes", "2000000", "--max-json-vault-bytes", "1000"]).await;
    let (_, token) = app.user().await;
    let resp =
        upload(&app, &token, "v", ("if-none-match", "*")).body(b"original".to_vec()).send().await.unwrap();
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();

    let no_precondition = app
        .client
        .put(format!("{}/api/v1/vault/v/content", app.address))
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .header("x-vault-iv", b64(&[1u8; 12]))
        .header("x-vault-salt", b64(&[1u8; 12]))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_problem(no_precondition, StatusCode::PRECONDITION_REQUIRED, "precondition_required").await;
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Headers, StatusCode, &str); 6] = [
        (&[("content-type", "text/plain")], StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (&[("x-vault-iv", "%%%")], StatusCode::BAD_REQUEST, "invalid_base64"),
        (&[("x-vault-salt", "")], StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (&[("x-vault-version", "three")], StatusCode::BAD_REQUEST, "invalid_header"),
        (&[("x-vault-version", "0")], StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (
            &[("x-vault-iv", "AAAAAAAAAAAAAAAA"), ("x-vault-iv", "BBBBBBBBBBBBBBBB")],
            StatusCode::BAD_REQUEST,
            "invalid_header",
        ),
    ];
    for (headers, status, code) in cases {
        let mut all = vec![("if-match", etag.as_str())];
        all.extend_from_slice(headers);
        let resp = upload_with(&app, &token, "v", &all).body("x").send().await.unwrap();
        assert_problem(resp, status, code).await;
    }
    // Over the limit, announced by Content-Length or found while streaming: 413, aborted.
    let resp =
        upload(&app, &token, "v", ("if-match", &etag)).body(vec![0u8; 2_000_001]).send().await.unwrap();
    assert_problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let resp = upload(&app, &token, "v", ("if-match", &etag))
        .body(chunked(&vec![0u8; 2_500_000]))
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let resp = content(&app, &token, "v", Method::GET).send().await.unwrap();
    assert_eq!(resp.headers()["etag"], etag.as_str());
    assert_eq!(resp.bytes().await.unwrap(), "original");
    let user = read_user(&app, &token).await;
    assert_eq!(app.objects_of(&user).await.len(), 1, "every rejected upload was discarded");
}

pub(crate) async fn an_interrupted_upload_keeps_the_previous_revision(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let resp =
        upload(&app, &token, "v", ("if-none-match", "*")).body(b"original".to_vec()).send().await.unwrap();
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();

    // 12 MiB (past one multipart part), then the client's stream fails: the connection drops.
    let good: Vec<Chunk> = (0..12).map(|_| Ok(Bytes::from(rand_bytes(1024 * 1024)))).collect();
    let broken = stream::iter(good)
        .chain(stream::once(async { Err::<Bytes, _>(std::io::Error::other("client crashed")) }));
    let result =
        upload(&app, &token, "v", ("if-match", &etag)).body(reqwest::Body::wrap_stream(broken)).send().await;
    assert!(result.is_err() || result.unwrap().status().is_client_error());

    let resp = content(&app, &token, "v", Method::GET).send().await.unwrap();
    assert_eq!(resp.headers()["etag"], etag.as_str());
    assert_eq!(resp.bytes().await.unwrap(), "original");
    // The partial upload is gone (discarded at once, or swept once overdue).
    let user = read_user(&app, &token).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.objects_of(&user).await.len() > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let later = blindvault::domain::Timestamp::now().plus(std::time::Duration::from_secs(2 * 86400));
    app.state.sweeper.sweep(later).await.unwrap();
    assert_eq!(app.objects_of(&user).await.len(), 1, "no orphan object remains");
}

pub(crate) async fn of_concurrent_writers_exactly_one_wins(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let resp = upload(&app, &token, "hot", ("if-none-match", "*")).body(b"v1".to_vec()).send().await.unwrap();
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let bodies: Vec<Vec<u8>> = (0..32).map(|i| format!("writer {i}").into_bytes()).collect();
    let writes =
        bodies.iter().map(|b| upload(&app, &token, "hot", ("if-match", &etag)).body(b.clone()).send());
    let responses = futures::future::join_all(writes).await;
    let mut winner = None;
    let mut current = None;
    for (i, resp) in responses.into_iter().enumerate() {
        let resp = resp.unwrap();
        match resp.status() {
            StatusCode::OK => {
                assert!(winner.is_none(), "two writers won");
                winner = Some((i, resp.headers()["etag"].to_str().unwrap().to_owned()));
            }
            StatusCode::PRECONDITION_FAILED => {
                current = Some(resp.headers()["etag"].to_str().unwrap().to_owned())
            }
            other => panic!("unexpected {other}"),
        }
    }
    let (i, winning_etag) = winner.expect("one writer won");
    assert_eq!(current.as_deref(), Some(winning_etag.as_str()), "losers are told the winner's ETag");
    let resp = content(&app, &token, "hot", Method::GET).send().await.unwrap();
    assert_eq!(resp.headers()["etag"], winning_etag.as_str());
    assert_eq!(resp.bytes().await.unwrap(), bodies[i], "the winner's bytes are stored");
    let meta: Value =
        app.call(Method::GET, "/api/v1/vault/hot", Some(&token), None).await.json().await.unwrap();
    assert_eq!(meta["revision"], 2);
    let digest = Sha256::digest(&bodies[i]);
    assert_eq!(digest.len(), 32);
    let user = read_user(&app, &token).await;
    assert_eq!(
        app.objects_of(&user).await.len(),
        2,
        "the winner and the replaced revision; losers discarded"
    );
}
