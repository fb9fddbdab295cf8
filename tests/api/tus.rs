//! Resumable uploads (tus 1.0): the protocol surface, checksums, offsets, expiry, the commit
//! losing a race, termination and other users, with what is left at rest checked each time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::helpers::{
    Deployment, TestApp, assert_problem, on_both_deployments, rand_bytes, spawn_app, spawn_app_with,
};

on_both_deployments!(
    the_server_describes_itself_and_requires_its_version,
    an_upload_commits_a_vault_when_its_last_byte_arrives,
    a_checksum_mismatch_discards_the_chunk,
    a_wrong_offset_is_refused_with_the_right_one,
    a_commit_that_loses_the_race_releases_everything,
    expired_uploads_are_swept,
    uploads_belong_to_their_user_and_can_be_ended,
);

/// `Upload-Metadata` for vault `id` created with `If-None-Match: *`, plus `extra` pairs.
pub fn metadata(id: &str, extra: &[(&str, &[u8])]) -> String {
    let mut pairs = vec![
        format!("vault_id {}", STANDARD.encode(id)),
        format!("iv {}", STANDARD.encode([5u8; 12])),
        format!("salt {}", STANDARD.encode([6u8; 24])),
    ];
    if !extra.iter().any(|(k, _)| *k == "if_match") {
        pairs.push(format!("if_none_match {}", STANDARD.encode("*")));
    }
    pairs.extend(extra.iter().map(|(k, v)| format!("{k} {}", STANDARD.encode(v))));
    pairs.join(",")
}

/// A tus request: the bearer token and `Tus-Resumable: 1.0.0`.
pub fn tus(method: reqwest::Method, url: impl AsRef<str>, token: impl AsRef<str>) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, url.as_ref())
        .bearer_auth(token.as_ref())
        .header("tus-resumable", "1.0.0")
}

/// Creates an upload; returns its absolute URL.
pub async fn create(base: &str, token: &str, length: usize, metadata: &str) -> String {
    let resp = tus(reqwest::Method::POST, format!("{base}/api/v1/uploads"), token)
        .header("upload-length", length)
        .header("upload-metadata", metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "{:?}", resp.text().await);
    assert!(resp.headers().contains_key("upload-expires"));
    format!("{base}{}", resp.headers()["location"].to_str().unwrap())
}

/// PATCHes `bytes` at `offset`, with a checksum header when given.
pub async fn patch(
    url: &str,
    token: &str,
    offset: usize,
    bytes: Vec<u8>,
    checksum: Option<String>,
) -> Response {
    let mut req = tus(reqwest::Method::PATCH, url, token)
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", offset);
    if let Some(checksum) = checksum {
        req = req.header("upload-checksum", checksum);
    }
    req.body(bytes).send().await.unwrap()
}

/// The upload's offset from `HEAD`, or the status when it is not 200.
pub async fn head(url: &str, token: &str) -> Result<usize, StatusCode> {
    let resp = tus(reqwest::Method::HEAD, url, token).send().await.unwrap();
    if resp.status() != StatusCode::OK {
        return Err(resp.status());
    }
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["tus-resumable"], "1.0.0");
    Ok(resp.headers()["upload-offset"].to_str().unwrap().parse().unwrap())
}

fn sha256_header(bytes: &[u8]) -> String {
    format!("sha256 {}", STANDARD.encode(Sha256::digest(bytes)))
}

/// Everything the app stores for `user`, plus any upload spool or tail objects.
pub async fn at_rest(app: &TestApp, user: &str) -> Vec<String> {
    let mut keys = app.objects_of(user).await;
    keys.extend(app.blobs.list("uploads").await.unwrap());
    keys
}

/// How many multipart uploads the S3 server holds for `user` (none on the embedded deployment).
pub async fn multipart_uploads(d: &Deployment, user: uuid::Uuid) -> usize {
    let Deployment::Production { s3_endpoint, bucket, .. } = d else { return 0 };
    let listing =
        reqwest::get(format!("{s3_endpoint}/{bucket}?uploads")).await.unwrap().text().await.unwrap();
    listing.matches(&user.simple().to_string()).count()
}

async fn the_server_describes_itself_and_requires_its_version(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let url = format!("{}/api/v1/uploads", app.address);
    let resp = app.client.request(reqwest::Method::OPTIONS, &url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let h = resp.headers();
    assert_eq!(h["tus-resumable"], "1.0.0");
    assert_eq!(h["tus-version"], "1.0.0");
    assert_eq!(h["tus-extension"], "creation,creation-with-upload,termination,expiration,checksum");
    assert_eq!(h["tus-checksum-algorithm"], "sha256");
    assert_eq!(h["tus-max-size"], "10737418240");
    let resp = app.client.post(&url).bearer_auth(&token).header("upload-length", 10).send().await.unwrap();
    assert_eq!(resp.headers()["tus-version"], "1.0.0");
    assert_problem(resp, StatusCode::PRECONDITION_FAILED, "tus_version_unsupported").await;
    let without_precondition =
        metadata("v", &[]).replace(&format!(",if_none_match {}", STANDARD.encode("*")), "");
    let resp = tus(reqwest::Method::POST, &url, &token)
        .header("upload-length", 10)
        .header("upload-metadata", without_precondition)
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::PRECONDITION_REQUIRED, "precondition_required").await;
    let resp = tus(reqwest::Method::POST, &url, &token)
        .header("upload-length", 20_000_000_000u64)
        .header("upload-metadata", metadata("v", &[]))
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

async fn an_upload_commits_a_vault_when_its_last_byte_arrives(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let data = rand_bytes(19 * 1024 * 1024 + 123);
    // creation-with-upload: the first 5 MiB ride on the POST.
    let resp = tus(reqwest::Method::POST, format!("{}/api/v1/uploads", app.address), &token)
        .header("upload-length", data.len())
        .header("upload-metadata", metadata("big", &[("version", b"3")]))
        .header("content-type", "application/offset+octet-stream")
        .body(data[..5 << 20].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["upload-offset"], (5 << 20).to_string());
    let url = format!("{}{}", app.address, resp.headers()["location"].to_str().unwrap());
    assert_eq!(head(&url, &token).await, Ok(5 << 20));
    let resp = patch(&url, &token, 5 << 20, data[5 << 20..12 << 20].to_vec(), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.headers()["upload-offset"], (12 << 20).to_string());
    let vault =
        app.client.get(format!("{}/api/v1/vault/big", app.address)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(vault.status(), StatusCode::NOT_FOUND, "nothing is visible before the last byte");
    let resp =
        patch(&url, &token, 12 << 20, data[12 << 20..].to_vec(), Some(sha256_header(&data[12 << 20..])))
            .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let got = app
        .client
        .get(format!("{}/api/v1/vault/big/content", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(got.headers()["x-vault-version"], "3");
    assert_eq!(got.headers()["x-vault-iv"], STANDARD.encode([5u8; 12]));
    assert!(got.bytes().await.unwrap() == data, "the vault holds exactly the uploaded bytes");
    // A client that missed the last answer can ask again until the upload expires.
    assert_eq!(head(&url, &token).await, Ok(data.len()), "a finished upload reports its full length");
    let again = patch(&url, &token, data.len(), Vec::new(), None).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag, "the same revision, not a second one");
    let user = app.stored_user(&creds.username).await;
    assert_eq!(at_rest(&app, &user.id.to_string()).await.len(), 1, "only the vault's object is left");
    // Ending a finished upload leaves its vault alone.
    let ended = tus(reqwest::Method::DELETE, &url, &token).send().await.unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let got = app
        .client
        .get(format!("{}/api/v1/vault/big/content", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(got.bytes().await.unwrap() == data);
    assert_eq!(at_rest(&app, &user.id.to_string()).await.len(), 1);
}

async fn a_checksum_mismatch_discards_the_chunk(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let data = rand_bytes(10 << 20);
    let url = create(&app.address, &token, data.len(), &metadata("c", &[])).await;
    let wrong = sha256_header(b"something else");
    let resp = patch(&url, &token, 0, data[..9 << 20].to_vec(), Some(wrong)).await;
    assert_eq!(resp.status().as_u16(), 460);
    assert_eq!(head(&url, &token).await, Ok(0), "the chunk was discarded");
    let resp = patch(&url, &token, 0, data[..3].to_vec(), Some("md5 AAAA".into())).await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_header").await;
    let resp = patch(&url, &token, 0, data.clone(), Some(sha256_header(&data))).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let got = app
        .client
        .get(format!("{}/api/v1/vault/c/content", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(got.bytes().await.unwrap() == data);
}

async fn a_wrong_offset_is_refused_with_the_right_one(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let url = create(&app.address, &token, 100, &metadata("o", &[])).await;
    assert_eq!(patch(&url, &token, 0, vec![1; 40], None).await.status(), StatusCode::NO_CONTENT);
    let resp = patch(&url, &token, 10, vec![1; 10], None).await;
    assert_eq!(resp.headers()["upload-offset"], "40");
    assert_problem(resp, StatusCode::CONFLICT, "offset_mismatch").await;
    let resp = patch(&url, &token, 40, vec![1; 61], None).await;
    assert_problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(head(&url, &token).await, Ok(40), "a body past Upload-Length stores nothing");
    let resp = tus(reqwest::Method::PATCH, &url, &token)
        .header("upload-offset", 40)
        .body(vec![1; 5])
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

async fn a_commit_that_loses_the_race_releases_everything(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let put = |body: &'static [u8], precondition: (&'static str, String)| {
        app.client
            .put(format!("{}/api/v1/vault/r/content", app.address))
            .bearer_auth(&token)
            .header("content-type", "application/octet-stream")
            .header("x-vault-iv", STANDARD.encode([1u8; 12]))
            .header("x-vault-salt", STANDARD.encode([1u8; 12]))
            .header(precondition.0, precondition.1)
            .body(body)
            .send()
    };
    let first = put(b"first", ("if-none-match", "*".into())).await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    // A precondition that already fails is refused at creation, before any byte is sent.
    let resp = tus(reqwest::Method::POST, format!("{}/api/v1/uploads", app.address), &token)
        .header("upload-length", 10)
        .header("upload-metadata", metadata("r", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag);
    assert_problem(resp, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    let data = rand_bytes(9 << 20);
    let url =
        create(&app.address, &token, data.len(), &metadata("r", &[("if_match", etag.as_bytes())])).await;
    assert_eq!(patch(&url, &token, 0, data[..8 << 20].to_vec(), None).await.status(), StatusCode::NO_CONTENT);
    let second = put(b"second", ("if-match", etag.clone())).await.unwrap();
    let current = second.headers()["etag"].to_str().unwrap().to_owned();
    let resp = patch(&url, &token, 8 << 20, data[8 << 20..].to_vec(), None).await;
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), current);
    assert_problem(resp, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    let got = app
        .client
        .get(format!("{}/api/v1/vault/r/content", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap(), "second", "nothing was committed");
    assert_eq!(head(&url, &token).await, Err(StatusCode::NOT_FOUND));
    let user = app.stored_user(&creds.username).await.id.to_string();
    app.state
        .sweeper
        .sweep(blindvault::domain::Timestamp::now().plus(std::time::Duration::from_secs(3600)))
        .await
        .unwrap();
    // The two revisions (the first kept in the vault's history), nothing of the upload.
    assert_eq!(at_rest(&app, &user).await.len(), 2, "the upload's storage was released");
}

async fn expired_uploads_are_swept(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    // An upload past its timeout answers 404 at once (a replica with a 1 s timeout made it).
    let short = app.sibling(&["--upload-timeout", "1s"]).await;
    let url = create(&short.address, &token, 10, &metadata("short", &[])).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(head(&url, &token).await, Err(StatusCode::NOT_FOUND), "expired");
    // The sweep releases an expired upload's parts, tail or spool and its object. Sweeping
    // as of tomorrow rather than waiting keeps this free of timing under load.
    let url = create(&app.address, &token, 20 << 20, &metadata("e", &[])).await;
    assert_eq!(patch(&url, &token, 0, rand_bytes(9 << 20), None).await.status(), StatusCode::NO_CONTENT);
    let later = blindvault::domain::Timestamp::now().plus(std::time::Duration::from_secs(25 * 3600));
    assert_eq!(app.state.vaults.sweep_uploads(later).await.unwrap(), 2);
    app.state.sweeper.sweep(later).await.unwrap();
    let user = app.stored_user(&creds.username).await.id.to_string();
    assert!(at_rest(&app, &user).await.is_empty(), "{:?}", at_rest(&app, &user).await);
}

async fn uploads_belong_to_their_user_and_can_be_ended(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let (_, other) = app.user().await;
    let url = create(&app.address, &token, 30 << 20, &metadata("mine", &[])).await;
    assert_eq!(patch(&url, &token, 0, rand_bytes(9 << 20), None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(head(&url, &other).await, Err(StatusCode::NOT_FOUND));
    assert_eq!(patch(&url, &other, 9 << 20, vec![1; 10], None).await.status(), StatusCode::NOT_FOUND);
    let delete = |token: String| tus(reqwest::Method::DELETE, &url, token).send();
    assert_eq!(delete(other).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(head(&url, &token).await, Ok(9 << 20), "untouched by the other user");
    assert_eq!(delete(token.clone()).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(head(&url, &token).await, Err(StatusCode::NOT_FOUND));
    let user = app.stored_user(&creds.username).await.id.to_string();
    assert!(at_rest(&app, &user).await.is_empty(), "{:?}", at_rest(&app, &user).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_of_configured_origins_may_use_the_api() {
    let app = spawn_app_with(
        &Deployment::Embedded,
        &["--cors-origins", "https://app.example,https://other.example"],
    )
    .await;
    let url = format!("{}/api/v1/uploads", app.address);
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "authorization,tus-resumable,upload-offset,content-type",
            )
            .send()
    };
    let resp = preflight("https://app.example").await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("PATCH"));
    assert!(h["access-control-allow-headers"].to_str().unwrap().contains("upload-offset"));
    let resp = preflight("https://evil.example").await.unwrap();
    assert!(
        !resp.headers().contains_key("access-control-allow-origin"),
        "an origin not configured gets nothing"
    );
    let (_, token) = app.user().await;
    let resp = tus(reqwest::Method::POST, &url, &token)
        .header("origin", "https://other.example")
        .header("upload-length", 10)
        .header("upload-metadata", metadata("cors", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["access-control-allow-origin"], "https://other.example");
    let exposed = resp.headers()["access-control-expose-headers"].to_str().unwrap().to_owned();
    for h in ["location", "upload-offset", "upload-expires", "etag"] {
        assert!(exposed.contains(h), "{h} is readable by the page: {exposed}");
    }
    let plain = spawn_app(&Deployment::Embedded).await;
    let resp =
        plain.client.get(format!("{}/health", plain.address)).header("origin", "https://app.example").send();
    assert!(
        !resp.await.unwrap().headers().contains_key("access-control-allow-origin"),
        "no CORS unless configured"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_whose_first_bytes_fail_still_says_where_to_resume() {
    let app = spawn_app(&Deployment::Embedded).await;
    let (_, token) = app.user().await;
    let resp = tus(reqwest::Method::POST, format!("{}/api/v1/uploads", app.address), &token)
        .header("upload-length", 100)
        .header("upload-metadata", metadata("first", &[]))
        .header("content-type", "application/offset+octet-stream")
        .header("upload-checksum", sha256_header(b"not these bytes"))
        .body(vec![7u8; 60])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "the upload exists even though its first chunk failed");
    assert_eq!(resp.headers()["upload-offset"], "0");
    let url = format!("{}{}", app.address, resp.headers()["location"].to_str().unwrap());
    assert_eq!(patch(&url, &token, 0, vec![7u8; 100], None).await.status(), StatusCode::NO_CONTENT);
}
