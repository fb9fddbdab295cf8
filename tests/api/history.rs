//! 64 clients doing read-modify-write with If-Match on a few vaults for a bounded time; the
//! acknowledged writes must form one linear history per vault, with nothing lost.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Deployment, on_both_deployments, spawn_app};
use crate::vaults_json::vault_body;

on_both_deployments!(concurrent_read_modify_writes_form_a_linear_history);

const VAULTS: [&str; 4] = ["h0", "h1", "h2", "h3"];
const CLIENTS: usize = 64;

/// An acknowledged write: the revision it was given, its ETag, the ETag it was based on, the bytes.
#[derive(Debug, Clone)]
struct Ack {
    revision: i64,
    etag: String,
    base: String,
    body: Vec<u8>,
}

pub(crate) async fn concurrent_read_modify_writes_form_a_linear_history(d: Deployment) {
    let app = std::sync::Arc::new(spawn_app(&d).await);
    let (_, token) = app.user().await;
    let mut initial = HashMap::new();
    for id in VAULTS {
        let resp =
            app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body(id, b"genesis"))).await;
        initial.insert(id, resp.headers()["etag"].to_str().unwrap().to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    let tasks = (0..CLIENTS).map(|client| {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(async move {
            let mut acks: Vec<(&'static str, Ack)> = Vec::new();
            let mut n = 0;
            while Instant::now() < deadline {
                let id = VAULTS[(client + n) % VAULTS.len()];
                n += 1;
                let read: Value = app.call(Method::GET, &format!("/api/v1/vault/{id}"), Some(&token), None).await.json().await.unwrap();
                let base = read["etag"].as_str().unwrap().to_owned();
                let body = format!("client {client} write {n} on {base}").into_bytes();
                let put = json!({"ciphertext": STANDARD.encode(&body), "iv": STANDARD.encode([1u8; 8]), "salt": STANDARD.encode([2u8; 8])});
                let resp = app.client.put(format!("{}/api/v1/vault/{id}", app.address)).bearer_auth(&token)
                    .header("if-match", &base).json(&put).send().await.unwrap();
                match resp.status() {
                    StatusCode::OK => {
                        let v: Value = resp.json().await.unwrap();
                        let etag = v["etag"].as_str().unwrap().to_owned();
                        acks.push((id, Ack { revision: v["revision"].as_i64().unwrap(), etag, base, body }));
                    }
                    StatusCode::PRECONDITION_FAILED => {}
                    other => panic!("unexpected {other}"),
                }
            }
            acks
        })
    });
    let mut by_vault: HashMap<&str, Vec<Ack>> = HashMap::new();
    for task in futures::future::join_all(tasks).await {
        for (id, ack) in task.unwrap() {
            by_vault.entry(id).or_default().push(ack);
        }
    }
    let mut total = 0;
    for id in VAULTS {
        let mut acks = by_vault.remove(id).unwrap_or_default();
        acks.sort_by_key(|a| a.revision);
        total += acks.len();
        // Revisions 2..=R, each acknowledged to exactly one client, each based on the one before.
        let mut previous = initial[id].clone();
        for (i, ack) in acks.iter().enumerate() {
            assert_eq!(ack.revision, i as i64 + 2, "{id}: revisions are contiguous and unique");
            assert_eq!(
                ack.base,
                previous,
                "{id}: revision {} was written on top of revision {}",
                ack.revision,
                ack.revision - 1
            );
            previous = ack.etag.clone();
        }
        // The last acknowledged write is what is stored: none was lost.
        let read: Value = app
            .call(Method::GET, &format!("/api/v1/vault/{id}"), Some(&token), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read["etag"].as_str().unwrap(), previous);
        assert_eq!(read["revision"].as_i64().unwrap(), acks.len() as i64 + 1);
        if let Some(last) = acks.last() {
            assert_eq!(STANDARD.decode(read["ciphertext"].as_str().unwrap()).unwrap(), last.body);
        }
    }
    eprintln!("{total} acknowledged writes by {CLIENTS} clients on {} vaults in 3 s", VAULTS.len());
    assert!(total >= VAULTS.len(), "the race actually happened: {total} writes");
}
