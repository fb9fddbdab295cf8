//! Wiring: settings → stores → services → router → a bound listener.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::api::{self, App, AppState};
use crate::config::{DatabaseLocation, Registration, Settings};
use crate::domain::{Retention, Timestamp};
use crate::private_dir::create_private_dir;
use crate::server::{self, ConnectionLimits};
use crate::service::{
    AuthPolicy, AuthService, Changes, FactorKeys, HashCost, LoginThrottle, PasswordHasher, Readiness,
    RegistrationMode, SecretsKey, SweepPolicy, Sweeper, ThrottlePolicy, TokenIssuer, VaultLimits,
    VaultService, VaultTiming,
};
use crate::store::{
    BlobStore, Caches, ChangeFeed, MetadataStore, PgPoolSettings, PgStore, SqliteStore, VaultStore,
};
use crate::telemetry::metrics::{Live, Metrics};

/// How often expired sessions and old login failures are pruned.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(600);

/// How long start-up waits for the first subscription to other replicas' changes before
/// serving anyway (not ready, caching nothing, still subscribing).
const FIRST_SUBSCRIPTION_WAIT: Duration = Duration::from_secs(5);

/// A background task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether [`Application::build`] applies pending migrations first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Apply them (the default for `serve`), after a backup when they change a database that
    /// holds data.
    Apply,
    /// Apply them without that backup (`serve --no-backup`).
    ApplyWithoutBackup,
    /// Refuse to start if any are pending (`serve --no-migrate`).
    Require,
}

/// The database behind both store traits.
#[derive(Clone)]
pub struct Stores {
    /// Accounts and sessions.
    pub meta: Arc<dyn MetadataStore>,
    /// Vaults and the object queue.
    pub vaults: Arc<dyn VaultStore>,
    /// Cache invalidation between replicas.
    pub feed: Arc<dyn ChangeFeed>,
}

fn stores<T: MetadataStore + VaultStore + ChangeFeed>(store: T) -> Stores {
    let store = Arc::new(store);
    Stores { meta: store.clone(), vaults: store.clone(), feed: store }
}

/// Opens the database the settings name. The SQLite file's directory is created.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Stores> {
    Ok(match settings.database()? {
        DatabaseLocation::Postgres(url) => {
            let pool = PgPoolSettings {
                max_connections: settings.database_max_connections,
                max_lifetime: settings.database_max_lifetime,
                acquire_timeout: settings.database_acquire_timeout,
            };
            stores(PgStore::connect(url.expose(), &pool).context("invalid BLINDVAULT_DATABASE_URL")?)
        }
        DatabaseLocation::Sqlite(url) => {
            if let Some(dir) = sqlite_dir(&url) {
                create_private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let max = settings.database_max_connections.min(8);
            stores(SqliteStore::connect(&url, max).await.context("cannot open the SQLite database")?)
        }
    })
}

fn sqlite_dir(url: &str) -> Option<&Path> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    Path::new(path).parent().filter(|p| !p.as_os_str().is_empty())
}

/// A built server: listener bound, state ready, not yet serving.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// Metadata, for maintenance and for tests that look at what is at rest.
    store: Arc<dyn MetadataStore>,
    /// Ciphertext objects, likewise.
    blobs: BlobStore,
    /// Vaults and the bodies kept in the database, likewise.
    vault_store: Arc<dyn VaultStore>,
    /// Follows other replicas' changes from before the first request is served.
    following: AbortOnDrop,
}

impl Application {
    /// Validates the settings, opens the stores, applies or checks migrations, builds the
    /// services and binds the listener.
    pub async fn build(settings: Settings, migrations: Migrations) -> anyhow::Result<Self> {
        settings.validate()?;
        let Stores { meta: store, vaults: vault_store, feed } = open_store(&settings).await?;
        let changes = Arc::new(Changes::new(Arc::new(Caches::new(settings.cache_bytes)), feed));
        match migrations {
            Migrations::Apply | Migrations::ApplyWithoutBackup => {
                backup_before_migrating(&settings, &*store, migrations == Migrations::Apply).await?;
                store.migrate().await.context("applying migrations failed")?
            }
            Migrations::Require => {
                let pending = store.pending_migrations().await.context("cannot read applied migrations")?;
                if !pending.is_empty() {
                    bail!("{} migration(s) pending; run `blindvault migrate` first", pending.len());
                }
            }
        }
        let newer = store.unknown_migrations().await.context("cannot read applied migrations")?;
        if !newer.is_empty() {
            tracing::warn!(
                versions = ?newer,
                "the database has migrations newer than this binary (a rollback): serving, as they only add; \
                 `blindvault migrate --to` with the newer binary steps the schema down"
            );
        }
        // After the migrations: on SQLite, following reads a table they create.
        let following = AbortOnDrop(tokio::spawn(Arc::clone(&changes).follow()));
        let blobs = BlobStore::open(&settings.storage()?)?;
        let mut metrics = Metrics::new();
        let auth =
            build_auth(&settings, Arc::clone(&store), Arc::clone(&changes), metrics.argon2_wait.clone())
                .await?;
        let vaults = VaultService::new(
            Arc::clone(&vault_store),
            blobs.clone(),
            VaultLimits {
                max_json_bytes: settings.max_json_vault_bytes,
                max_vault_bytes: settings.max_vault_bytes,
                inline_bytes: settings.inline_bytes,
                quota_bytes: settings.quota_bytes,
                quota_vaults: settings.quota_vaults,
            },
            VaultTiming {
                delete_grace: settings.delete_grace,
                upload_timeout: settings.upload_timeout,
                retention: Retention { keep_revisions: settings.keep_revisions, keep_for: settings.keep_for },
                trash_for: settings.trash_for,
                // A URL must not outlive the grace period of the object it names.
                direct_url_ttl: Some(settings.direct_url_ttl.min(settings.delete_grace))
                    .filter(|ttl| !ttl.is_zero()),
            },
            Arc::clone(&changes),
        );
        let policy = SweepPolicy {
            keep_for: settings.keep_for,
            delete_grace: settings.delete_grace,
            changes_for: settings.changes_for,
        };
        let sweeper = Arc::new(
            Sweeper::new(Arc::clone(&vault_store), blobs.clone(), policy).announcing(Arc::clone(&changes)),
        );
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let readiness = Readiness::new(Arc::clone(&store), blobs.clone(), Arc::clone(&changes));
        metrics.register_live(Live {
            hasher: Arc::clone(auth.hasher()),
            changes: Arc::clone(&changes),
            store: Arc::clone(&store),
            blobs: blobs.clone(),
            sweeper: Arc::clone(&sweeper),
            readiness: readiness.clone(),
        });
        let metrics = Arc::new(metrics);
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for metrics"))?,
            ),
            None => None,
        };
        if !changes.until_following(FIRST_SUBSCRIPTION_WAIT).await {
            tracing::warn!("not following other replicas' changes yet: not ready until then");
        }
        let stopping = tokio::sync::watch::Sender::new(false);
        let app = App { settings, readiness, auth, vaults, sweeper, changes, metrics, stopping };
        let state = AppState(Arc::new(app));
        Ok(Self { listener, metrics_listener, state, store, blobs, vault_store, following })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The metadata store, for tests that look at what is at rest.
    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    /// The object store, for tests that look at what is at rest.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The vault store (with the bodies kept in the database), likewise.
    pub fn vault_store(&self) -> &Arc<dyn VaultStore> {
        &self.vault_store
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests
    /// finish for up to the shutdown timeout, and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.state.settings.shutdown_timeout;
        let maintenance = tokio::spawn(maintenance(self.state.clone(), self.store));
        let sweeping = tokio::spawn(sweep(self.state.clone()));
        let following = self.following;
        let metrics = self.metrics_listener.map(|listener| {
            let router = api::metrics_router(self.state.clone());
            tokio::spawn(async move { axum::serve(listener, router).await })
        });
        let stopping = Arc::new(Notify::new());
        let signal = Arc::clone(&stopping);
        let app = self.state.clone();
        let limits = ConnectionLimits {
            header_read_timeout: self.state.settings.header_read_timeout,
            max_header_bytes: self.state.settings.max_header_bytes,
            body_read_timeout: self.state.settings.body_read_timeout,
        };
        let server = server::serve(self.listener, api::router(self.state), limits, async move {
            shutdown.await;
            tracing::info!("stopping: no new connections, draining in-flight requests");
            app.stopping.send_replace(true);
            signal.notify_one();
        });
        let result = tokio::select! {
            () = server => Ok(()),
            () = async { stopping.notified().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish in time; dropping them");
                Ok(())
            }
        };
        maintenance.abort();
        sweeping.abort();
        drop(following);
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        result
    }
}

async fn build_auth(
    settings: &Settings,
    store: Arc<dyn MetadataStore>,
    changes: Arc<Changes>,
    argon2_wait: prometheus_client::metrics::histogram::Histogram,
) -> anyhow::Result<AuthService> {
    let cost = HashCost { m_kib: settings.argon2_m_kib, t: settings.argon2_t, p: settings.argon2_p };
    let hasher = PasswordHasher::new(cost, settings.argon2_slots(), settings.argon2_waiting())
        .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?
        .on_wait(move |waited| argon2_wait.observe(waited.as_secs_f64()));
    let secret = crate::key_files::jwt_secret(settings)?;
    let mut tokens = TokenIssuer::new(&secret, settings.access_ttl);
    if let Some(previous) = &settings.jwt_previous_secret {
        tokens = tokens.accepting_previous(previous.expose().as_bytes());
    }
    let throttle = LoginThrottle::new(
        Arc::clone(&store),
        ThrottlePolicy {
            per_account: settings.login_max_failures_per_account,
            per_address: settings.login_max_failures_per_address,
            window: settings.login_failure_window,
        },
    );
    let public_url = settings.public_url();
    let host = public_url.host_str().unwrap_or("localhost").to_owned();
    let webauthn = webauthn_rs::WebauthnBuilder::new(&host, &public_url)
        .and_then(|b| b.rp_name("blindvault").build())
        .map_err(|e| anyhow::anyhow!("BLINDVAULT_PUBLIC_URL does not make a WebAuthn relying party: {e}"))?;
    let keys = FactorKeys {
        secrets: SecretsKey::new(&crate::key_files::secrets_key(settings)?),
        webauthn: Arc::new(webauthn),
    };
    let policy = AuthPolicy {
        registration: match settings.registration {
            Registration::Open => RegistrationMode::Open,
            Registration::Invite => RegistrationMode::Invite,
            Registration::Closed => RegistrationMode::Closed,
        },
        issuer: format!("blindvault ({host})"),
        min_kdf_iterations: settings.min_kdf_iterations,
        refresh_ttl: settings.refresh_ttl,
    };
    AuthService::new(store, Arc::new(hasher), tokens, throttle, policy, changes, keys)
        .await
        .context("cannot read server secrets from the database")
}

async fn maintenance(state: AppState, store: Arc<dyn MetadataStore>) {
    let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        let keep = state.settings.login_failure_window.max(state.settings.access_ttl);
        match store.prune(Timestamp::now().minus(keep)).await {
            Ok(rows) => tracing::debug!(rows, "pruned expired sessions and login failures"),
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
        let now = Timestamp::now();
        match store.prune_security(now.minus(state.settings.audit_for), now).await {
            Ok(rows) => tracing::debug!(rows, "pruned old audit events, spent ceremonies and invites"),
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
    }
}

/// Before migrations change a database that holds data: a backup (see `backup.rs`), or, with
/// `backup` false, a loud warning that there is none. Nothing to do on an empty database or
/// when nothing is pending.
pub async fn backup_before_migrating(
    settings: &Settings,
    store: &dyn MetadataStore,
    backup: bool,
) -> anyhow::Result<()> {
    let pending = store.pending_migrations().await.context("cannot read applied migrations")?;
    if pending.is_empty() || store.schema_version().await?.is_none() {
        return Ok(());
    }
    if !backup {
        tracing::warn!(
            pending = ?pending,
            "MIGRATING WITHOUT A BACKUP (--no-backup): a failed or unwanted migration can only be undone \
             with a backup you took yourself"
        );
        return Ok(());
    }
    let name = crate::backup::take(settings, store, "before-migrate").await.context(
        "the backup before migrating failed, so nothing was migrated (fix it, or take your own backup and \
         pass --no-backup)",
    )?;
    tracing::info!(backup = %name, pending = ?pending, "backup taken before migrating");
    Ok(())
}

/// Runs the object sweeper every `BLINDVAULT_SWEEP_INTERVAL`.
async fn sweep(state: AppState) {
    let mut tick = tokio::time::interval(state.settings.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.vaults.sweep_uploads(Timestamp::now()).await {
            tracing::warn!(error = %e, "sweeping expired uploads failed");
        }
        if let Err(e) = state.sweeper.sweep(Timestamp::now()).await {
            tracing::warn!(error = %e, "sweep failed");
        }
    }
}
