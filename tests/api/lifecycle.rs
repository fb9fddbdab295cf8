//! The process under signals: SIGTERM drains what is in flight; SIGKILL mid-upload loses
//! nothing acknowledged, and the next run sweeps what was left.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::StatusCode;

use crate::helpers::{Deployment, b64, on_both_deployments};
use crate::process::Server;

on_both_deployments!(sigterm_lets_an_upload_in_flight_finish, sigkill_mid_upload_keeps_the_previous_revision);

/// A body of `chunks` × 64 KiB sent slowly, one chunk every `pause`.
fn slow_body(chunks: usize, pause: Duration) -> reqwest::Body {
    let stream = futures::stream::iter(0..chunks).then(move |_| async move {
        tokio::time::sleep(pause).await;
        Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 64 * 1024]))
    });
    reqwest::Body::wrap_stream(stream)
}

fn upload(
    server: &Server,
    token: &str,
    precondition: (&str, &str),
    body: reqwest::Body,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .put(format!("{}/api/v1/vault/v/content", server.url))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .header("x-vault-iv", b64(&[1u8; 12]))
        .header("x-vault-salt", b64(&[1u8; 12]))
        .header(precondition.0, precondition.1)
        .body(body)
}

async fn sigterm_lets_an_upload_in_flight_finish(d: Deployment) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&d, dir.path(), "info").await;
    let token = server.new_user_token().await;
    // About 1.5 s of upload, during which the server is told to stop.
    let in_flight = tokio::spawn(
        upload(&server, &token, ("if-none-match", "*"), slow_body(30, Duration::from_millis(50))).send(),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let pid = server.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        reqwest::get(format!("{}/health", server.url)).await.is_err(),
        "new connections are refused while draining"
    );
    let resp = in_flight.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "the upload in flight completed");
    let status = server.stop();
    assert_eq!(status.code(), Some(0));
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("draining in-flight requests") && log.contains("\"stopped\""), "{log}");
}

async fn sigkill_mid_upload_keeps_the_previous_revision(d: Deployment) {
    let dir = tempfile::tempdir().unwrap();
    // Uploads are abandoned after 3 s here, so that the next run sweeps this one promptly; every
    // body goes to the object store, whose leftovers this is about.
    let flags = ["--upload-timeout", "3s", "--sweep-interval", "1s", "--inline-bytes", "0"];
    let mut server = Server::start_with(&d, dir.path(), "info", &flags).await;
    let token = server.new_user_token().await;
    let resp = upload(&server, &token, ("if-none-match", "*"), reqwest::Body::from("original"))
        .send()
        .await
        .unwrap();
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();

    // 20 MiB, slowly: killed after a multipart part or two reached the store.
    let doomed = tokio::spawn(
        upload(&server, &token, ("if-match", &etag), slow_body(320, Duration::from_millis(5))).send(),
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.kill();
    assert!(doomed.await.unwrap().is_err(), "the client sees the connection die");

    // Restarted on the same storage: the vault is at its previous revision.
    let args: Vec<String> = server.args.clone();
    let mut again = Server::restart(&args, dir.path()).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/vault/v/content", again.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["etag"], etag.as_str());
    assert_eq!(resp.bytes().await.unwrap(), "original");

    // The abandoned upload is swept on the next run: only the committed object remains.
    let settings = blindvault::Settings::from_args(&args).unwrap();
    let blobs = blindvault::store::BlobStore::open(&settings.storage().unwrap()).unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(blobs.list("vaults").await.unwrap().len(), 1);
    if let Deployment::Embedded = d {
        let mut files = Vec::new();
        walk(&dir.path().join("objects"), &mut files);
        assert_eq!(files.len(), 1, "no partial file is left on disk: {files:?}");
    }
    assert_eq!(again.stop().code(), Some(0));
}

fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().is_dir() {
            walk(&entry.path(), out);
        } else {
            out.push(entry.path());
        }
    }
}
