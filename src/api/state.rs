use std::ops::Deref;
use std::sync::Arc;

use crate::config::Settings;
use crate::service::{AuthService, Changes, Readiness, Sweeper, VaultService};
use crate::telemetry::metrics::Metrics;

/// Everything a request handler may reach: settings and services.
pub struct App {
    /// The effective settings.
    pub settings: Settings,
    /// Whether the database and object store answer.
    pub readiness: Readiness,
    /// Authentication and accounts.
    pub auth: AuthService,
    /// Vaults.
    pub vaults: VaultService,
    /// The object sweeper.
    pub sweeper: Arc<Sweeper>,
    /// Caches and cross-replica invalidation.
    pub changes: Arc<Changes>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Turns true when the server starts to stop: long-lived answers (the change feed's
    /// waits and streams) end then, so that draining does not wait for them.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

impl App {
    /// Resolves once the server has started to stop.
    pub async fn stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }
}

/// The router's state: one cheap clone of the shared [`App`].
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}
