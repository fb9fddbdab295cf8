//! A 256 MiB vault streamed up and down through the real binary, checked byte for byte, while
//! the server's peak memory stays far below the body size.

use bytes::Bytes;
use futures::{StreamExt, stream};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::helpers::{Deployment, b64, on_both_deployments};
use crate::process::Server;

on_both_deployments!(a_256_mib_vault_streams_in_bounded_memory);

const MIB: usize = 1024 * 1024;
const BODY_MIB: usize = 256;

fn chunk(i: usize) -> Bytes {
    Bytes::from(
        (0..MIB).map(|j| (i.wrapping_mul(31) ^ j.wrapping_mul(7) ^ (j >> 9)) as u8).collect::<Vec<u8>>(),
    )
}

async fn a_256_mib_vault_streams_in_bounded_memory(d: Deployment) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&d, dir.path(), "warn").await;
    let client = reqwest::Client::new();
    let token = server.new_user_token().await;
    let baseline = server.peak_rss();

    let mut expected = Sha256::new();
    for i in 0..BODY_MIB {
        expected.update(chunk(i));
    }
    let expected = expected.finalize();
    let body = stream::iter(0..BODY_MIB).map(|i| Ok::<_, std::io::Error>(chunk(i)));
    let resp = client
        .put(format!("{}/api/v1/vault/big/content", server.url))
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .header("x-vault-iv", b64(&[1u8; 12]))
        .header("x-vault-salt", b64(&[2u8; 16]))
        .header("if-none-match", "*")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap_or_default());
    let after_upload = server.peak_rss();

    let resp = client
        .get(format!("{}/api/v1/vault/big/content", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.content_length(), Some((BODY_MIB * MIB) as u64));
    let mut got = Sha256::new();
    let mut total = 0usize;
    let mut body = resp.bytes_stream();
    while let Some(part) = body.next().await {
        let part = part.unwrap();
        total += part.len();
        got.update(&part);
    }
    assert_eq!(total, BODY_MIB * MIB);
    assert_eq!(got.finalize(), expected, "byte for byte");
    let peak = server.peak_rss();

    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "memory: baseline {} MiB, after upload {} MiB, after download {} MiB, growth {} MiB for a {BODY_MIB} MiB body",
        baseline / MIB as u64,
        after_upload / MIB as u64,
        peak / MIB as u64,
        growth / MIB as u64
    );
    assert!(growth < 96 * MIB as u64, "peak memory grew by {} MiB", growth / MIB as u64);
}
