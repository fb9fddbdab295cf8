//! The Prometheus registry: counters and histograms the code updates as it goes, plus a
//! collector that reads live values (queues, pools, caches) at each scrape. No user or vault
//! ids as labels.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::Timestamp;
use crate::service::{Changes, PasswordHasher, Readiness, Sweeper};
use crate::store::{BlobStore, MetadataStore};

/// Labels of the HTTP metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The matched route template (`/api/v1/vault/{vault_id}`), or `unmatched`.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Status code.
    pub status: u16,
}

/// Label of the login counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok` or the problem code.
    pub outcome: String,
}

/// The metrics the code updates directly.
pub struct Metrics {
    registry: Registry,
    /// Requests by route, method and status.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Request latency by route, method and status.
    pub http_duration: Family<HttpLabels, Histogram>,
    /// Ciphertext bytes committed by writes.
    pub bytes_uploaded: Counter,
    /// Ciphertext bytes sent by reads.
    pub bytes_downloaded: Counter,
    /// Logins by outcome.
    pub logins: Family<OutcomeLabels, Counter>,
    /// Time a hash waited for an Argon2 slot.
    pub argon2_wait: Histogram,
}

impl Metrics {
    /// A registry with every metric described.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("blindvault");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let bytes_uploaded = Counter::default();
        let bytes_downloaded = Counter::default();
        let logins = Family::<OutcomeLabels, Counter>::default();
        let argon2_wait = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "http_requests",
            "HTTP requests by matched route, method and status",
            http_requests.clone(),
        );
        registry.register("http_request_duration_seconds", "HTTP request latency", http_duration.clone());
        registry.register(
            "vault_uploaded_bytes",
            "Ciphertext bytes committed by vault writes",
            bytes_uploaded.clone(),
        );
        registry.register(
            "vault_downloaded_bytes",
            "Ciphertext bytes served by vault reads",
            bytes_downloaded.clone(),
        );
        registry.register("logins", "Login attempts by outcome", logins.clone());
        registry.register(
            "argon2_wait_seconds",
            "Time a hash waited for an Argon2 slot",
            argon2_wait.clone(),
        );
        Self { registry, http_requests, http_duration, bytes_uploaded, bytes_downloaded, logins, argon2_wait }
    }

    /// Adds the values read at scrape time.
    pub fn register_live(&mut self, live: Live) {
        self.registry.register_collector(Box::new(live));
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Values read from the running parts at each scrape.
pub struct Live {
    /// The Argon2 pool.
    pub hasher: Arc<PasswordHasher>,
    /// The caches and the change feed's waiters.
    pub changes: Arc<Changes>,
    /// The database.
    pub store: Arc<dyn MetadataStore>,
    /// The object store.
    pub blobs: BlobStore,
    /// The sweeper.
    pub sweeper: Arc<Sweeper>,
    /// The readiness probe's last answer.
    pub readiness: Readiness,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> std::fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        gauge(
            &mut encoder,
            "argon2_queue_depth",
            "Hashes running or waiting for a slot",
            self.hasher.queue_depth() as i64,
        )?;
        gauge(
            &mut encoder,
            "argon2_queue_capacity",
            "Hashes that may run or wait at once; beyond, logins get 503",
            self.hasher.capacity() as i64,
        )?;
        if let Some(ready) = self.readiness.last() {
            gauge(&mut encoder, "ready", "1 when the last readiness check passed, else 0", i64::from(ready))?;
        }
        gauge(
            &mut encoder,
            "change_feed_following",
            "1 while this replica receives the others' cache invalidations (always 1 on SQLite)",
            i64::from(self.changes.following()),
        )?;
        let c = self.changes.caches();
        let caches = [
            ("vault", &c.vault_counts),
            ("session", &c.session_counts),
            ("username", &c.username_counts),
            ("body", &c.body_counts),
            ("json", &c.rendered.counts),
        ];
        for (kind, name, help) in [
            ("hits", "cache_hits", "Reads answered from the in-process cache"),
            ("misses", "cache_misses", "Reads that went to the store"),
        ] {
            let zero = ConstCounter::new(0u64);
            let mut family = encoder.encode_descriptor(name, help, None, zero.metric_type())?;
            for (cache, counts) in caches {
                let value = if kind == "hits" { &counts.hits } else { &counts.misses };
                ConstCounter::new(value.load(Ordering::Relaxed))
                    .encode(family.encode_family(&CacheLabels { cache })?)?;
            }
        }
        let (size, idle) = self.store.pool_stats();
        let zero = ConstGauge::new(0i64);
        let mut pool = encoder.encode_descriptor(
            "db_connections",
            "Database pool connections by state",
            None,
            zero.metric_type(),
        )?;
        ConstGauge::new(i64::from(size.saturating_sub(idle)))
            .encode(pool.encode_family(&StateLabels { state: "in_use" })?)?;
        ConstGauge::new(i64::from(idle)).encode(pool.encode_family(&StateLabels { state: "idle" })?)?;
        gauge(
            &mut encoder,
            "db_max_connections",
            "The most connections the pool opens (BLINDVAULT_DATABASE_MAX_CONNECTIONS)",
            i64::from(self.store.pool_max()),
        )?;
        counter(
            &mut encoder,
            "object_store_errors",
            "Object-store requests that failed",
            self.blobs.errors(),
        )?;
        let sweeps = self.sweeper.stats();
        counter(&mut encoder, "sweeper_runs", "Sweeper runs", sweeps.runs)?;
        counter(&mut encoder, "sweeper_deleted_objects", "Objects the sweeper deleted", sweeps.deleted)?;
        gauge(
            &mut encoder,
            "sweeper_due_objects",
            "Queued objects past their deletion time at the last sweep",
            sweeps.backlog.due_objects,
        )?;
        let oldest = sweeps.backlog.oldest_due.map_or(0, |due| due.until(Timestamp::now()).as_secs() as i64);
        gauge(
            &mut encoder,
            "sweeper_oldest_due_seconds",
            "How long the oldest object due for deletion has waited, at the last sweep",
            oldest,
        )?;
        gauge(
            &mut encoder,
            "uploads_expired",
            "Resumable uploads past their expiry and not yet swept, at the last sweep",
            sweeps.backlog.expired_uploads,
        )?;
        if let Some(at) = sweeps.last_success {
            gauge(
                &mut encoder,
                "sweeper_last_success_timestamp_seconds",
                "When a sweep last finished with every deletion done (Unix seconds)",
                at.unix_seconds(),
            )?;
        }
        gauge(
            &mut encoder,
            "feed_waiting_requests",
            "Change-feed requests and streams waiting for a change on this replica",
            self.changes.waiters().waiting() as i64,
        )?;
        Ok(())
    }
}
