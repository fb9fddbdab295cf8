//! Latency samplers: GETs at a fixed rate (the reads beside the P4 login storm), and
//! closed-loop GETs of one small object straight from the S3 server (the floor under P3's
//! cache misses).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{Value, json};

use crate::transfer::{S3Args, pattern};

/// Arguments of `paced-get`.
#[derive(clap::Args)]
pub struct PacedArgs {
    #[arg(long)]
    url: String,
    #[arg(long)]
    token: String,
    /// Requests per second, sent on schedule whether or not earlier ones have answered.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    #[arg(long)]
    seconds: f64,
}

/// Arguments of `s3-get`.
#[derive(clap::Args)]
pub struct S3GetArgs {
    #[command(flatten)]
    s3: S3Args,
    #[arg(long, default_value_t = 4096)]
    size: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long)]
    seconds: f64,
}

fn summary(mut times: Vec<f64>, failures: usize, elapsed: f64) -> Value {
    times.sort_by(f64::total_cmp);
    let at =
        |q: f64| times.get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1))).copied();
    json!({"requests": times.len(), "failures": failures, "rps": times.len() as f64 / elapsed,
        "p50_ms": at(0.5).map(|s| s * 1e3), "p99_ms": at(0.99).map(|s| s * 1e3)})
}

/// Open-loop GETs at a fixed rate; latency counts from the scheduled send time.
pub async fn paced(args: PacedArgs) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let started = Instant::now();
    let mut tick = tokio::time::interval(interval);
    let mut tasks = Vec::new();
    while started.elapsed().as_secs_f64() < args.seconds {
        tick.tick().await;
        let scheduled = Instant::now();
        let request = client.get(&args.url).bearer_auth(&args.token).send();
        tasks.push(tokio::spawn(async move {
            let ok = match request.await {
                Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
                Err(_) => false,
            };
            (ok, scheduled.elapsed().as_secs_f64())
        }));
    }
    let (mut times, mut failures) = (Vec::new(), 0);
    for task in tasks {
        match task.await? {
            (true, t) => times.push(t),
            (false, _) => failures += 1,
        }
    }
    Ok(summary(times, failures, started.elapsed().as_secs_f64()))
}

/// Closed-loop GETs of one small object straight from the S3 server.
pub async fn s3_get(args: S3GetArgs) -> anyhow::Result<Value> {
    let store: Arc<dyn ObjectStore> = Arc::new(args.s3.store()?);
    let path = Path::from(format!("bench-small-{}", std::process::id()));
    store.put(&path, PutPayload::from(Bytes::from(pattern(args.size)))).await?;
    let until = Instant::now() + Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (store, path) = (Arc::clone(&store), path.clone());
            tokio::spawn(async move {
                let (mut times, mut failures) = (Vec::new(), 0);
                while Instant::now() < until {
                    let sent = Instant::now();
                    let ok = match store.get(&path).await {
                        Ok(got) => got.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        times.push(sent.elapsed().as_secs_f64());
                    } else {
                        failures += 1;
                    }
                }
                (times, failures)
            })
        })
        .collect();
    let (mut times, mut failures) = (Vec::new(), 0);
    for task in tasks {
        let (t, f) = task.await?;
        times.extend(t);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    store.delete(&path).await?;
    Ok(summary(times, failures, elapsed))
}
