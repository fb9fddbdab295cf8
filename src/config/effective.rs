use std::time::Duration;

use ipnet::IpNet;

use super::{DatabaseLocation, Secret, Settings};

impl Settings {
    /// The effective configuration as `NAME=value` lines, every secret redacted.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        let database = match self.database() {
            Ok(DatabaseLocation::Postgres(url)) => redact_url_password(url.expose()),
            Ok(DatabaseLocation::Sqlite(url)) => url,
            Err(_) => "<invalid>".into(),
        };
        let storage = self
            .storage_url
            .clone()
            .unwrap_or_else(|| format!("file://{}", self.data_dir.join("objects").display()));
        let jwt = match &self.jwt_secret {
            Some(_) => "<redacted>".to_owned(),
            None => format!("<generated in {}>", self.data_dir.join("jwt.key").display()),
        };
        let secrets = match &self.secrets_key {
            Some(_) => "<redacted>".to_owned(),
            None => format!("<generated in {}>", self.data_dir.join("secrets.key").display()),
        };
        let opt = |v: &Option<Secret>| v.as_ref().map_or("", |_| "<redacted>").to_owned();
        let proxies: Vec<String> = self.trusted_proxies.iter().map(IpNet::to_string).collect();
        vec![
            ("BLINDVAULT_LISTEN", self.listen.to_string()),
            ("BLINDVAULT_CORS_ORIGINS", self.cors_origins.join(",")),
            ("BLINDVAULT_WEB", self.web.to_string()),
            (
                "BLINDVAULT_WEB_DIR",
                self.web_dir.as_ref().map_or_else(|| "(built in)".into(), |d| d.display().to_string()),
            ),
            ("BLINDVAULT_DATA_DIR", self.data_dir.display().to_string()),
            ("BLINDVAULT_DATABASE_URL", database),
            ("BLINDVAULT_DATABASE_MAX_CONNECTIONS", self.database_max_connections.to_string()),
            ("BLINDVAULT_DATABASE_MAX_LIFETIME", show(self.database_max_lifetime)),
            ("BLINDVAULT_DATABASE_ACQUIRE_TIMEOUT", show(self.database_acquire_timeout)),
            ("BLINDVAULT_STORAGE_URL", storage),
            ("AWS_ENDPOINT_URL", self.s3.endpoint.clone().unwrap_or_default()),
            ("AWS_REGION", self.s3.region.clone()),
            ("AWS_ACCESS_KEY_ID", self.s3.access_key_id.as_ref().map_or("", |_| "<redacted>").to_owned()),
            ("AWS_SECRET_ACCESS_KEY", opt(&self.s3.secret_access_key)),
            ("AWS_SESSION_TOKEN", opt(&self.s3.session_token)),
            ("AWS_ALLOW_HTTP", self.s3.allow_http.to_string()),
            ("AWS_UNSIGNED_PAYLOAD", self.s3.unsigned_payload.to_string()),
            ("BLINDVAULT_JWT_SECRET", jwt),
            ("BLINDVAULT_JWT_PREVIOUS_SECRET", opt(&self.jwt_previous_secret)),
            ("BLINDVAULT_SECRETS_KEY", secrets),
            ("BLINDVAULT_PUBLIC_URL", self.public_url().to_string()),
            ("BLINDVAULT_ARGON2_M_KIB", self.argon2_m_kib.to_string()),
            ("BLINDVAULT_ARGON2_T", self.argon2_t.to_string()),
            ("BLINDVAULT_ARGON2_P", self.argon2_p.to_string()),
            ("BLINDVAULT_ARGON2_CONCURRENCY", self.argon2_slots().to_string()),
            ("BLINDVAULT_ARGON2_QUEUE", self.argon2_waiting().to_string()),
            ("BLINDVAULT_ACCESS_TTL", show(self.access_ttl)),
            ("BLINDVAULT_REFRESH_TTL", show(self.refresh_ttl)),
            ("BLINDVAULT_REGISTRATION", self.registration.as_str().to_owned()),
            ("BLINDVAULT_MIN_KDF_ITERATIONS", self.min_kdf_iterations.to_string()),
            ("BLINDVAULT_LOGIN_MAX_FAILURES_PER_ACCOUNT", self.login_max_failures_per_account.to_string()),
            ("BLINDVAULT_LOGIN_MAX_FAILURES_PER_ADDRESS", self.login_max_failures_per_address.to_string()),
            ("BLINDVAULT_LOGIN_FAILURE_WINDOW", show(self.login_failure_window)),
            ("BLINDVAULT_TRUSTED_PROXIES", proxies.join(",")),
            ("BLINDVAULT_MAX_JSON_VAULT_BYTES", self.max_json_vault_bytes.to_string()),
            ("BLINDVAULT_MAX_VAULT_BYTES", self.max_vault_bytes.to_string()),
            (
                "BLINDVAULT_QUOTA_BYTES",
                self.quota_bytes.map_or_else(|| "unlimited".into(), |q| q.to_string()),
            ),
            (
                "BLINDVAULT_QUOTA_VAULTS",
                self.quota_vaults.map_or_else(|| "unlimited".into(), |q| q.to_string()),
            ),
            ("BLINDVAULT_DELETE_GRACE", show(self.delete_grace)),
            ("BLINDVAULT_UPLOAD_TIMEOUT", show(self.upload_timeout)),
            ("BLINDVAULT_KEEP_REVISIONS", self.keep_revisions.to_string()),
            ("BLINDVAULT_KEEP_FOR", show(self.keep_for)),
            ("BLINDVAULT_TRASH_FOR", show(self.trash_for)),
            ("BLINDVAULT_CHANGES_FOR", show(self.changes_for)),
            ("BLINDVAULT_AUDIT_FOR", show(self.audit_for)),
            (
                "BLINDVAULT_BACKUP_DIR",
                self.backup_dir
                    .as_ref()
                    .map_or_else(|| "(the object store, backups/)".into(), |d| d.display().to_string()),
            ),
            ("BLINDVAULT_BACKUP_KEEP", self.backup_keep.to_string()),
            ("BLINDVAULT_FEED_MAX_WAIT", show(self.feed_max_wait)),
            ("BLINDVAULT_FEED_HEARTBEAT", show(self.feed_heartbeat)),
            ("BLINDVAULT_SWEEP_INTERVAL", show(self.sweep_interval)),
            ("BLINDVAULT_CACHE_BYTES", self.cache_bytes.to_string()),
            ("BLINDVAULT_INLINE_BYTES", self.inline_bytes.to_string()),
            (
                "BLINDVAULT_METRICS_LISTEN",
                self.metrics_listen.map_or_else(|| "(on BLINDVAULT_LISTEN)".into(), |a| a.to_string()),
            ),
            ("BLINDVAULT_SHUTDOWN_TIMEOUT", show(self.shutdown_timeout)),
            ("BLINDVAULT_HEADER_READ_TIMEOUT", show(self.header_read_timeout)),
            ("BLINDVAULT_BODY_READ_TIMEOUT", show(self.body_read_timeout)),
            ("BLINDVAULT_MAX_HEADER_BYTES", self.max_header_bytes.to_string()),
            ("BLINDVAULT_LOG_FORMAT", format!("{:?}", self.log_format()).to_lowercase()),
        ]
    }
}

/// `postgres://user:pw@host/db` → `postgres://user:<redacted>@host/db`.
fn redact_url_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("<redacted>"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparseable>".into(),
    }
}
