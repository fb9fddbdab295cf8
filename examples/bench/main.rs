//! The load client of `bench/run`: streamed transfers through blindvault and, as their
//! baseline, straight to the S3 server; concurrent `If-Match` writers on one vault; and the
//! in-process cost of one Argon2id hash. Every command prints one JSON object on stdout.

mod latency;
mod transfer;
mod writers;

use std::time::Instant;

use anyhow::Context;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Load client for bench/run; prints one JSON object per command")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Registers a user with a random auth hash (iterations are the client's business) and logs in
    Login {
        #[arg(long)]
        url: String,
        #[arg(long)]
        username: String,
    },
    /// Creates a vault of `bytes` random bytes through the JSON API
    Seed {
        #[arg(long)]
        url: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        vault: String,
        #[arg(long)]
        bytes: usize,
    },
    /// Streams `size` bytes up and then down, `concurrency` transfers at once
    Transfer(transfer::TransferArgs),
    /// GETs at a fixed rate, with latency counted from the scheduled send time
    PacedGet(latency::PacedArgs),
    /// Closed-loop GETs of one small object straight from the S3 server
    S3Get(latency::S3GetArgs),
    /// Clients doing read-modify-write with If-Match on one vault; checks the history
    Writers(writers::WritersArgs),
    /// Median time of one Argon2id hash with the server's parameters and a reused block buffer
    Argon2 {
        #[arg(long, default_value_t = 19456)]
        m_kib: u32,
        #[arg(long, default_value_t = 2)]
        t: u32,
        #[arg(long, default_value_t = 1)]
        p: u32,
        #[arg(long, default_value_t = 15)]
        samples: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let out = match Cli::parse().command {
        Command::Login { url, username } => login(&url, &username).await?,
        Command::Seed { url, token, vault, bytes } => seed(&url, &token, &vault, bytes).await?,
        Command::Transfer(args) => transfer::run(args).await?,
        Command::Writers(args) => writers::run(args).await?,
        Command::PacedGet(args) => latency::paced(args).await?,
        Command::S3Get(args) => latency::s3_get(args).await?,
        Command::Argon2 { m_kib, t, p, samples } => argon2_cost(m_kib, t, p, samples)?,
    };
    println!("{out}");
    Ok(())
}

/// Fails with the status and body of a response that is not a success.
pub async fn ok(resp: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    anyhow::bail!("{status}: {}", resp.text().await.unwrap_or_default())
}

async fn login(url: &str, username: &str) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let auth_hash = STANDARD.encode(rand::random::<[u8; 32]>());
    let register = json!({
        "username": username, "auth_hash": auth_hash, "salt": STANDARD.encode(rand::random::<[u8; 16]>()),
        "kdf": "pbkdf2-sha256", "iterations": 600_000,
    });
    ok(client.post(format!("{url}/api/v1/auth/register")).json(&register).send().await?).await?;
    let body = json!({"username": username, "auth_hash": auth_hash});
    let tokens: Value =
        ok(client.post(format!("{url}/api/v1/auth/login")).json(&body).send().await?).await?.json().await?;
    let access_token = tokens["access_token"].as_str().context("no access_token")?;
    Ok(
        json!({"username": username, "auth_hash": auth_hash, "access_token": access_token, "login_body": body}),
    )
}

async fn seed(url: &str, token: &str, vault: &str, bytes: usize) -> anyhow::Result<Value> {
    let body = json!({
        "vault_id": vault,
        "ciphertext": STANDARD.encode(transfer::pattern(bytes)),
        "iv": STANDARD.encode([7u8; 12]),
        "salt": STANDARD.encode([7u8; 24]),
    });
    let resp = reqwest::Client::new().post(format!("{url}/api/v1/vault")).bearer_auth(token).json(&body);
    let created: Value = ok(resp.send().await?).await?.json().await?;
    Ok(created)
}

fn argon2_cost(m_kib: u32, t: u32, p: u32, samples: usize) -> anyhow::Result<Value> {
    let mut out = argon2_single(m_kib, t, p, samples)?;
    // The same hashes on every core at once: what the bound would be if hashes scaled perfectly
    // is cores / median; this is what they do when they share the memory bus and caches.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let threads: Vec<_> =
        (0..cores).map(|_| std::thread::spawn(move || argon2_single(m_kib, t, p, samples))).collect();
    for thread in threads {
        thread.join().map_err(|_| anyhow::anyhow!("argon2 thread panicked"))??;
    }
    let hashes = cores * (samples.max(1) + 1);
    out["parallel_threads"] = json!(cores);
    out["parallel_hashes_per_s"] = json!(hashes as f64 / started.elapsed().as_secs_f64());
    Ok(out)
}

fn argon2_single(m_kib: u32, t: u32, p: u32, samples: usize) -> anyhow::Result<Value> {
    let params = Params::new(m_kib, t, p, Some(32)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut blocks = vec![Block::new(); params.block_count()];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut times = Vec::with_capacity(samples);
    let mut out = [0u8; 32];
    for i in 0..samples.max(1) + 1 {
        let started = Instant::now();
        argon
            .hash_password_into_with_memory(
                b"bench auth hash",
                b"sixteen byte salt",
                &mut out,
                &mut blocks[..],
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if i > 0 {
            times.push(started.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(json!({"m_kib": m_kib, "t": t, "p": p, "samples": times.len(), "median_seconds": median}))
}
