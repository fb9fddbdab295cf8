//! Direct downloads: `GET .../content?direct=true` answers 307 to a short-lived presigned URL of
//! the revision's immutable object where the storage can sign one (S3), and streams as usual
//! where it cannot (local files); the SDK follows it without credentials, and goes through the
//! gateway after all when the URL cannot be used.

use std::sync::{Arc, Mutex};

use blindvault::client::{Client, ClientError, Precondition};
use reqwest::StatusCode;

use crate::helpers::{Deployment, TestApp, assert_problem, b64, on_both_deployments, rand_bytes, spawn_app};
use crate::hostile::HostileProxy;

on_both_deployments!(direct_downloads_bypass_the_gateway, the_sdk_downloads_directly_and_falls_back);

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Stores `data` as vault `id` (streamed), if it is at `precondition`; the new ETag.
async fn put(app: &TestApp, token: &str, id: &str, data: &[u8], precondition: (&str, &str)) -> String {
    let resp = app
        .client
        .put(format!("{}/api/v1/vault/{id}/content", app.address))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .header("x-vault-iv", b64(&[7; 12]))
        .header("x-vault-salt", b64(&[6; 32]))
        .header("x-vault-version", "1")
        .header(precondition.0, precondition.1)
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

/// `GET` of vault `v`'s content with `?direct=true`, as `token`'s holder, redirects not followed.
async fn direct_get(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = no_redirects().get(format!("{}/api/v1/vault/v/content?direct=true", app.address));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

/// Follows a 307 the way a client must: the metadata from it, the bytes from `Location`.
async fn follow(resp: reqwest::Response, size: usize) -> Vec<u8> {
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    let h = resp.headers();
    assert_eq!(h["cache-control"], "no-store", "a presigned URL is a credential: never cached");
    assert_eq!(h["x-vault-size"], size.to_string().as_str());
    for name in ["etag", "x-vault-iv", "x-vault-salt", "x-vault-version"] {
        assert!(h.contains_key(name), "{name} on the 307");
    }
    let location = h["location"].to_str().unwrap().to_owned();
    assert!(location.contains("X-Amz-Signature=") && location.contains("X-Amz-Expires="), "{location}");
    let direct = no_redirects().get(&location).send().await.unwrap();
    assert_eq!(direct.status(), StatusCode::OK, "the URL works without credentials");
    let part = no_redirects().get(&location).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "ranges go to the object store");
    let part = part.bytes().await.unwrap().to_vec();
    let whole = direct.bytes().await.unwrap().to_vec();
    assert_eq!(part, whole[10..20]);
    whole
}

pub(crate) async fn direct_downloads_bypass_the_gateway(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let first = rand_bytes(150_000);
    let etag = put(&app, &token, "v", &first, ("if-none-match", "*")).await;
    let http = no_redirects();
    let get = |path: &str| http.get(format!("{}/api/v1/vault/v{path}", app.address)).bearer_auth(&token);
    let signs = !matches!(d, Deployment::Embedded);

    let resp = get("/content?direct=true").send().await.unwrap();
    let downloaded =
        if signs { follow(resp, first.len()).await } else { resp.bytes().await.unwrap().to_vec() };
    assert_eq!(downloaded, first);
    let sent = app.state.metrics.bytes_downloaded.get();
    assert_eq!(
        sent,
        if signs { 0 } else { first.len() as u64 },
        "the gateway streamed only without a signer"
    );

    // What is not a plain GET of a changed revision is answered as before.
    let head = http.head(format!("{}/api/v1/vault/v/content?direct=true", app.address)).bearer_auth(&token);
    let head = head.send().await.unwrap();
    assert_eq!(
        (head.status(), head.headers()["content-length"].to_str().unwrap()),
        (StatusCode::OK, "150000")
    );
    let cached = get("/content?direct=true").header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_problem(
        get("/content?direct=maybe").send().await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    let anonymous =
        http.get(format!("{}/api/v1/vault/v/content?direct=true", app.address)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().get("location").is_none());
    let (_, stranger) = app.user().await;
    let theirs =
        http.get(format!("{}/api/v1/vault/v/content?direct=true", app.address)).bearer_auth(&stranger);
    let theirs = theirs.send().await.unwrap();
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);

    // An earlier revision is its own immutable object.
    let second = rand_bytes(70_000);
    put(&app, &token, "v", &second, ("if-match", &etag)).await;
    let resp = get("/revisions/1/content?direct=true").send().await.unwrap();
    let old = if signs { follow(resp, first.len()).await } else { resp.bytes().await.unwrap().to_vec() };
    assert_eq!(old, first);

    if let Deployment::Production { s3_endpoint, .. } = &d {
        // URLs are signed for the endpoint clients reach.
        let public = s3_endpoint.replace("127.0.0.1", "localhost");
        let other = app.sibling(&["--s3-public-endpoint", &public]).await;
        let resp = direct_get(&other, Some(&token)).await;
        assert!(resp.headers()["location"].to_str().unwrap().starts_with(&public));
        assert_eq!(follow(resp, second.len()).await, second);
        // And turned off, the bytes come through the gateway.
        let off = app.sibling(&["--direct-url-ttl", "0s"]).await;
        let resp = direct_get(&off, Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.bytes().await.unwrap(), second);
    }
}

async fn the_sdk_downloads_directly_and_falls_back(d: Deployment) {
    let app = spawn_app(&d).await;
    let client = Client::new(&app.address).unwrap();
    client.register("dora", "direct password", 600_000).await.unwrap();
    let (keys, _) = client.login("dora", "direct password", &[]).await.unwrap();
    let plain = rand_bytes(300_000);
    client
        .put_stream(&keys, "big", std::io::Cursor::new(plain.clone()), &Precondition::Absent)
        .await
        .unwrap();
    let mut out = Vec::new();
    client.get_stream(&keys, "big", &mut out, |_, _| {}).await.unwrap();
    assert_eq!(out, plain);
    let through_gateway = app.state.metrics.bytes_downloaded.get();
    let signs = !matches!(d, Deployment::Embedded);
    assert_eq!(through_gateway == 0, signs, "{through_gateway} bytes through the gateway");

    if signs {
        // A URL the client cannot reach: the SDK reads through the gateway instead.
        let unreachable = app.sibling(&["--s3-public-endpoint", "http://127.0.0.1:9"]).await;
        let other = Client::new(&unreachable.address).unwrap();
        let (keys, _) = other.login("dora", "direct password", &[]).await.unwrap();
        let mut out = Vec::new();
        other.get_stream(&keys, "big", &mut out, |_, _| {}).await.unwrap();
        assert_eq!(out, plain);
        assert!(unreachable.state.metrics.bytes_downloaded.get() > 0);
    }
}

/// Whoever answers for the server points a direct download at another vault's object (of the
/// same size): the client refuses what it fetched there, since this vault's key and associated
/// data do not open it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_url_to_another_vaults_object_is_refused() {
    let Some(d) = Deployment::production() else { return };
    let app = spawn_app(&d).await;
    let proxy = HostileProxy::start(&app.address).await;
    let client = Client::new(&proxy.address).unwrap();
    client.register("eve", "swap password", 600_000).await.unwrap();
    let (keys, _) = client.login("eve", "swap password", &[]).await.unwrap();
    for (id, seed) in [("a", 3u8), ("b", 5)] {
        let plain = vec![seed; 200_000];
        client.put_stream(&keys, id, std::io::Cursor::new(plain), &Precondition::Absent).await.unwrap();
    }
    let b_location = Arc::new(Mutex::new(None));
    let into = Arc::clone(&b_location);
    proxy.rewrite(move |sent, answer| {
        if sent.path == "/api/v1/vault/b/content?direct=true" {
            *into.lock().unwrap() = answer.headers.get("location").cloned();
        }
    });
    client.get_stream(&keys, "b", &mut Vec::new(), |_, _| {}).await.unwrap();
    let location = b_location.lock().unwrap().clone().expect("b was answered with a 307");
    proxy.rewrite(move |sent, answer| {
        if sent.path == "/api/v1/vault/a/content?direct=true" {
            answer.headers.insert("location", location.clone());
        }
    });
    let err = client.get_stream(&keys, "a", &mut Vec::new(), |_, _| {}).await.unwrap_err();
    assert!(matches!(err, ClientError::Decrypt(_)), "{err}");
    proxy.honest();
    let mut out = Vec::new();
    client.get_stream(&keys, "a", &mut out, |_, _| {}).await.unwrap();
    assert_eq!(out, vec![3u8; 200_000]);
}
