//! Clients that hold a connection without finishing their request (slow-loris), bodies that
//! stall or never end, and request heads that are too big: each is cut off with a bounded cost,
//! and nothing is stored.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Deployment, TestApp, b64, on_both_deployments, spawn_app_with};

on_both_deployments!(
    headers_sent_too_slowly_close_the_connection,
    a_stalled_body_gets_408_and_stores_nothing,
    a_body_that_never_ends_is_stopped_by_the_size_limit,
    an_oversized_request_head_gets_431,
);

const TIMEOUTS: [&str; 4] = ["--header-read-timeout", "1s", "--body-read-timeout", "1s"];

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.expect("connect")
}

/// Reads what the server sends until it closes the connection or `limit` passes.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match tokio::time::timeout(limit - started.elapsed(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), started.elapsed())
}

async fn headers_sent_too_slowly_close_the_connection(d: Deployment) {
    let app = spawn_app_with(&d, &TIMEOUTS).await;
    let mut stream = connect(&app).await;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let trickle = async {
        // One header byte every 200 ms: each arrives well inside any idle timeout.
        for byte in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if stream.write_all(&[*byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    };
    let cut_off = tokio::time::timeout(Duration::from_secs(8), trickle).await.unwrap_or(false);
    assert!(cut_off, "a client trickling its headers for 9 s was never cut off");
    // The server is still there for everyone else.
    let resp = app.client.get(format!("{}/health", app.address)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

async fn a_stalled_body_gets_408_and_stores_nothing(d: Deployment) {
    let app = spawn_app_with(&d, &TIMEOUTS).await;
    let (_, token) = app.user().await;
    let stalls = [
        (
            "PUT /api/v1/vault/slow/content",
            format!(
                "Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\nIf-None-Match: *\r\nX-Vault-Iv: {}\r\nX-Vault-Salt: {}\r\n",
                b64(&[1; 12]),
                b64(&[1; 12])
            ),
        ),
        ("POST /api/v1/vault", "Content-Type: application/json\r\nContent-Length: 5000\r\n".to_owned()),
    ];
    for (request_line, headers) in stalls {
        let mut stream = connect(&app).await;
        let head = format!(
            "{request_line} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{headers}\r\n{}",
            "{\"vault_id\": \"slow\", \"ciphertext\": \""
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let (response, took) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        assert!(response.starts_with("HTTP/1.1 408"), "{request_line}: {response}");
        assert!(response.contains("application/problem+json") && response.contains("\"request_timeout\""));
        assert!(took < Duration::from_secs(5), "{request_line}: cut off after {took:?}");
    }
    let resp = app.client.get(format!("{}/api/v1/vault/slow", app.address)).bearer_auth(&token).send();
    assert_eq!(resp.await.unwrap().status(), StatusCode::NOT_FOUND, "nothing was stored");
}

async fn a_body_that_never_ends_is_stopped_by_the_size_limit(d: Deployment) {
    let app = spawn_app_with(&d, &["--max-vault-bytes", "1048576", "--max-json-vault-bytes", "1024"]).await;
    let (_, token) = app.user().await;
    let mut stream = connect(&app).await;
    let head = format!(
        "PUT /api/v1/vault/endless/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nIf-None-Match: *\r\nX-Vault-Iv: {}\r\nX-Vault-Salt: {}\r\n\r\n",
        b64(&[1; 12]),
        b64(&[1; 12])
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sender = tokio::spawn(async move {
        let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
        let mut sent = 0u64;
        while writer.write_all(chunk.as_bytes()).await.is_ok() {
            sent += 0x10000;
        }
        sent
    });
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut response)).await;
    assert!(read.is_ok(), "the server kept reading an endless body for 30 s");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("\"payload_too_large\""), "{response}");
    let sent = sender.await.unwrap();
    assert!(sent < 64 << 20, "the server read {sent} bytes of an endless body");
    let resp = app.client.get(format!("{}/api/v1/vault/endless", app.address)).bearer_auth(&token).send();
    assert_eq!(resp.await.unwrap().status(), StatusCode::NOT_FOUND, "nothing was stored");
}

async fn an_oversized_request_head_gets_431(d: Deployment) {
    let app = spawn_app_with(&d, &["--max-header-bytes", "16384"]).await;
    let url = format!("{}/health", app.address);
    let resp = app.client.get(&url).header("x-padding", "a".repeat(12_000)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "a head under the bound is served");
    let resp = app.client.get(&url).header("x-padding", "a".repeat(40_000)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}
