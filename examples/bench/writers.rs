//! P5: many clients replacing one vault with `If-Match`, then a check that the history is
//! linear: each revision acknowledged to exactly one client, none missing, the last one stored.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// Arguments of `writers`.
#[derive(clap::Args)]
pub struct WritersArgs {
    #[arg(long)]
    url: String,
    #[arg(long)]
    token: String,
    #[arg(long)]
    vault: String,
    #[arg(long, default_value_t = 64)]
    clients: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
}

/// What one client saw: acknowledged (revision, ciphertext) pairs and refused attempts.
#[derive(Default)]
struct Tally {
    acked: Vec<(u64, String)>,
    conflicts: u64,
    errors: u64,
}

fn envelope(ciphertext: &str) -> Value {
    json!({"ciphertext": ciphertext, "iv": STANDARD.encode([3u8; 12]), "salt": STANDARD.encode([3u8; 24])})
}

async fn read(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<(String, Value)> {
    let resp = crate::ok(client.get(url).bearer_auth(token).send().await?).await?;
    let etag = resp.headers().get("etag").context("no ETag")?.to_str()?.to_owned();
    Ok((etag, resp.json().await?))
}

async fn client_loop(id: usize, url: String, token: String, until: Instant) -> Tally {
    let client = reqwest::Client::new();
    let mut tally = Tally::default();
    let mut seq = 0u64;
    while Instant::now() < until {
        let Ok((etag, _)) = read(&client, &url, &token).await else {
            tally.errors += 1;
            continue;
        };
        seq += 1;
        let ciphertext = STANDARD.encode(format!("client {id} write {seq}"));
        let sent = client.put(&url).bearer_auth(&token).header("if-match", etag).json(&envelope(&ciphertext));
        match sent.send().await {
            Ok(resp) if resp.status() == 200 => match resp.json::<Value>().await {
                Ok(body) => tally.acked.push((body["revision"].as_u64().unwrap_or(0), ciphertext)),
                Err(_) => tally.errors += 1,
            },
            Ok(resp) if resp.status() == 412 => tally.conflicts += 1,
            _ => tally.errors += 1,
        }
    }
    tally
}

/// Runs the writers and checks the history they leave.
pub async fn run(args: WritersArgs) -> anyhow::Result<Value> {
    let url = format!("{}/api/v1/vault/{}", args.url, args.vault);
    let client = reqwest::Client::new();
    let create = json!({"vault_id": args.vault, "ciphertext": STANDARD.encode("start"),
        "iv": STANDARD.encode([3u8; 12]), "salt": STANDARD.encode([3u8; 24])});
    let created = client.post(format!("{}/api/v1/vault", args.url)).bearer_auth(&args.token).json(&create);
    crate::ok(created.send().await?).await?;

    let started = Instant::now();
    let until = started + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = (0..args.clients)
        .map(|id| tokio::spawn(client_loop(id, url.clone(), args.token.clone(), until)))
        .collect();
    let mut acked = BTreeMap::new();
    let (mut conflicts, mut errors, mut duplicates) = (0, 0, 0);
    for task in tasks {
        let tally = task.await?;
        conflicts += tally.conflicts;
        errors += tally.errors;
        for (revision, ciphertext) in tally.acked {
            if acked.insert(revision, ciphertext).is_some() {
                duplicates += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();

    let (_, last) = read(&client, &url, &args.token).await?;
    let final_revision = last["revision"].as_u64().context("no revision")?;
    let missing = (2..=final_revision).filter(|r| !acked.contains_key(r)).count();
    let last_is_stored = acked.get(&final_revision).map(String::as_str) == last["ciphertext"].as_str();
    let commits = acked.len();
    Ok(json!({
        "clients": args.clients, "seconds": elapsed, "commits": commits,
        "commits_per_s": commits as f64 / elapsed, "conflicts_412": conflicts, "errors": errors,
        "final_revision": final_revision, "duplicate_revisions": duplicates, "missing_revisions": missing,
        "last_acknowledged_is_stored": last_is_stored,
        "linear": duplicates == 0 && missing == 0 && last_is_stored && final_revision == commits as u64 + 1,
    }))
}
