//! A 64 MiB resumable upload sent in uneven chunks through two real server processes on the
//! same storage: the connection drops mid-chunk three times, one process is killed and
//! restarted between chunks, and every resume starts from what `HEAD` reports. The stored
//! vault is byte-for-byte what was sent.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

use crate::helpers::{Deployment, on_both_deployments, rand_bytes};
use crate::process::Server;
use crate::tus::{create, head, metadata, patch};

on_both_deployments!(a_dropped_upload_resumes_on_any_replica);

/// Sends a PATCH whose body stops after `sent` of its `bytes`, then drops the connection.
async fn patch_and_drop(url: &str, token: &str, offset: usize, bytes: &[u8], sent: usize) {
    let url = url::Url::parse(url).unwrap();
    let mut stream =
        tokio::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).await.unwrap();
    let head = format!(
        "PATCH {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {}\r\n\r\n",
        url.path(),
        bytes.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&bytes[..sent]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(stream);
}

fn on_port(args: &[String], port: u16) -> Vec<String> {
    let mut args = args.to_vec();
    let at = args.iter().position(|a| a == "--listen").unwrap();
    args[at + 1] = format!("127.0.0.1:{port}");
    args
}

async fn a_dropped_upload_resumes_on_any_replica(d: Deployment) {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Server::start(&d, dir.path(), "info").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let b = Server::restart(&on_port(&a.args, port), dir.path()).await;
    let token = a.new_user_token().await;
    let data = rand_bytes(64 << 20);
    let path = create(&a.url, &token, data.len(), &metadata("big", &[])).await;
    let path = path.trim_start_matches(&a.url).to_owned();
    let sizes = [13usize << 20, 7 << 20, 21 << 20, 3 << 20 | 12345, 17 << 20, 9 << 20, 64 << 20];
    let (mut drops, mut offset, mut etag) = (0, 0usize, None);
    for (round, size) in sizes.iter().cycle().enumerate() {
        if round == 3 {
            // A gateway restart between chunks: the next chunk goes to a new process.
            a.kill();
            a = Server::restart(&a.args, dir.path()).await;
        }
        let server = if round % 2 == 0 { &a.url } else { &b.url };
        let url = format!("{server}{path}");
        assert_eq!(head(&url, &token).await, Ok(offset), "round {round}: HEAD says where to resume");
        let chunk = &data[offset..(offset + size).min(data.len())];
        if drops < 3 {
            drops += 1;
            patch_and_drop(&url, &token, offset, chunk, chunk.len() * 3 / 5).await;
            let resumed = head(&url, &token).await.unwrap();
            assert!(
                resumed > offset && resumed <= offset + chunk.len() * 3 / 5,
                "round {round}: kept {resumed}"
            );
            offset = resumed;
            continue;
        }
        let resp = patch(&url, &token, offset, chunk.to_vec(), None).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "round {round}");
        offset += chunk.len();
        if offset == data.len() {
            etag = Some(resp.headers()["etag"].to_str().unwrap().to_owned());
            break;
        }
    }
    let got = reqwest::Client::new()
        .get(format!("{}/api/v1/vault/big/content", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.headers()["etag"].to_str().unwrap(), etag.unwrap());
    assert!(got.bytes().await.unwrap() == data, "byte-for-byte what was sent");
}
