use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use super::{DatabaseLocation, LogFormat, Settings};
use crate::store::{BlobLocation, S3Target};

/// A setting that cannot be used, with the variable that holds it.
#[derive(Debug, Error)]
#[error("invalid {setting}: {message}")]
pub struct ConfigError {
    /// The environment variable naming the setting.
    pub setting: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn invalid(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { setting, message: message.into() }
}

impl Settings {
    /// Where metadata lives.
    pub fn database(&self) -> Result<DatabaseLocation, ConfigError> {
        let Some(url) = self.database_url.as_ref().or(self.database_url_fallback.as_ref()) else {
            let path = self.data_dir.join("blindvault.db");
            return Ok(DatabaseLocation::Sqlite(format!("sqlite://{}", path.display())));
        };
        let raw = url.expose();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(DatabaseLocation::Postgres(url.clone()))
        } else if raw.starts_with("sqlite:") {
            Ok(DatabaseLocation::Sqlite(raw.to_owned()))
        } else {
            Err(invalid("BLINDVAULT_DATABASE_URL", "expected postgres://... or sqlite://path"))
        }
    }

    /// Where ciphertext lives, and for S3 how to reach it.
    pub fn storage(&self) -> Result<BlobLocation, ConfigError> {
        let Some(url) = &self.storage_url else {
            return Ok(BlobLocation::Local(self.data_dir.join("objects")));
        };
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(invalid("BLINDVAULT_STORAGE_URL", "file:// needs a directory"));
            }
            return Ok(BlobLocation::Local(PathBuf::from(path)));
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(invalid("BLINDVAULT_STORAGE_URL", "expected s3://bucket[/prefix] or file://path"));
        };
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (b, Some(p.trim_matches('/').to_owned()).filter(|p| !p.is_empty())),
            None => (rest, None),
        };
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(invalid("BLINDVAULT_STORAGE_URL", "the bucket name is not a valid S3 bucket name"));
        }
        let s3 = &self.s3;
        Ok(BlobLocation::S3(S3Target {
            bucket: bucket.to_owned(),
            prefix,
            endpoint: s3.endpoint.clone(),
            region: s3.region.clone(),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key: s3.secret_access_key.as_ref().map(|s| s.expose().to_owned()),
            session_token: s3.session_token.as_ref().map(|s| s.expose().to_owned()),
            allow_http: s3.allow_http,
            unsigned_payload: s3.unsigned_payload,
            public_endpoint: s3.public_endpoint.clone(),
        }))
    }

    /// Where browsers reach the server: `BLINDVAULT_PUBLIC_URL`, or localhost at the listening port.
    pub fn public_url(&self) -> url::Url {
        self.public_url.clone().unwrap_or_else(|| {
            url::Url::parse(&format!("http://localhost:{}", self.listen.port())).expect("a valid URL")
        })
    }

    /// The configured secrets key, decoded (`None` when unset or malformed: `validate` says which).
    pub fn secrets_key_bytes(&self) -> Option<[u8; 32]> {
        self.secrets_key.as_ref().and_then(|k| decode_secrets_key(k.expose()))
    }

    /// Argon2 hashes computed at once.
    pub fn argon2_slots(&self) -> usize {
        self.argon2_concurrency.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Argon2 hashes that may wait for a slot.
    pub fn argon2_waiting(&self) -> usize {
        self.argon2_queue.unwrap_or(16 * self.argon2_slots())
    }

    /// The log format: as set, or pretty on a terminal and JSON elsewhere.
    pub fn log_format(&self) -> LogFormat {
        use std::io::IsTerminal;
        self.log_format.unwrap_or(if std::io::stderr().is_terminal() {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        })
    }

    /// Checks every setting that can be checked without I/O.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let database = self.database()?;
        self.storage()?;
        if let Some(secret) = &self.jwt_secret {
            if secret.expose().len() < 32 {
                return Err(invalid("BLINDVAULT_JWT_SECRET", "must be at least 32 bytes"));
            }
        } else if matches!(database, DatabaseLocation::Postgres(_)) {
            return Err(invalid(
                "BLINDVAULT_JWT_SECRET",
                "required when the database is Postgres, so that every replica signs with the same key",
            ));
        }
        match &self.secrets_key {
            Some(key) if decode_secrets_key(key.expose()).is_none() => {
                return Err(invalid("BLINDVAULT_SECRETS_KEY", "must be 32 bytes in standard base64"));
            }
            None if matches!(database, DatabaseLocation::Postgres(_)) => {
                return Err(invalid(
                    "BLINDVAULT_SECRETS_KEY",
                    "required when the database is Postgres, so that every replica opens the same sealed secrets \
                     (make one with `openssl rand -base64 32`)",
                ));
            }
            _ => {}
        }
        let public = self.public_url();
        if !matches!(public.scheme(), "http" | "https") || public.host_str().is_none() {
            return Err(invalid("BLINDVAULT_PUBLIC_URL", "must be an http(s) URL with a host"));
        }
        if self.jwt_previous_secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
            return Err(invalid("BLINDVAULT_JWT_PREVIOUS_SECRET", "must be at least 32 bytes"));
        }
        argon2::Params::new(self.argon2_m_kib, self.argon2_t, self.argon2_p, Some(32))
            .map_err(|e| invalid("BLINDVAULT_ARGON2_M_KIB", format!("Argon2 parameters rejected: {e}")))?;
        if self.argon2_m_kib < 8 * self.argon2_p {
            return Err(invalid("BLINDVAULT_ARGON2_M_KIB", "must be at least 8 × BLINDVAULT_ARGON2_P"));
        }
        if self.argon2_concurrency == Some(0) {
            return Err(invalid("BLINDVAULT_ARGON2_CONCURRENCY", "must be at least 1"));
        }
        let durations = [
            ("BLINDVAULT_ACCESS_TTL", self.access_ttl),
            ("BLINDVAULT_REFRESH_TTL", self.refresh_ttl),
            ("BLINDVAULT_LOGIN_FAILURE_WINDOW", self.login_failure_window),
            ("BLINDVAULT_DATABASE_ACQUIRE_TIMEOUT", self.database_acquire_timeout),
            ("BLINDVAULT_UPLOAD_TIMEOUT", self.upload_timeout),
            ("BLINDVAULT_SWEEP_INTERVAL", self.sweep_interval),
            ("BLINDVAULT_CHANGES_FOR", self.changes_for),
            ("BLINDVAULT_AUDIT_FOR", self.audit_for),
            ("BLINDVAULT_FEED_HEARTBEAT", self.feed_heartbeat),
            ("BLINDVAULT_FEED_MAX_WAIT", self.feed_max_wait),
            ("BLINDVAULT_HEADER_READ_TIMEOUT", self.header_read_timeout),
            ("BLINDVAULT_BODY_READ_TIMEOUT", self.body_read_timeout),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(invalid(name, "must be longer than zero"));
        }
        if self.feed_max_wait > std::time::Duration::from_secs(60) {
            return Err(invalid("BLINDVAULT_FEED_MAX_WAIT", "must be at most 60s"));
        }
        if self.refresh_ttl < self.access_ttl {
            return Err(invalid("BLINDVAULT_REFRESH_TTL", "must not be shorter than BLINDVAULT_ACCESS_TTL"));
        }
        if self.min_kdf_iterations < 100_000 {
            return Err(invalid("BLINDVAULT_MIN_KDF_ITERATIONS", "must be at least 100000"));
        }
        if let Some(bad) = self.cors_origins.iter().find(|o| {
            !(o.starts_with("https://") || o.starts_with("http://"))
                || o.ends_with('/')
                || o.contains(char::is_whitespace)
        }) {
            return Err(invalid(
                "BLINDVAULT_CORS_ORIGINS",
                format!("{bad:?} is not an origin like https://app.example.com"),
            ));
        }
        if !(8 * 1024..=1024 * 1024).contains(&self.max_header_bytes) {
            return Err(invalid("BLINDVAULT_MAX_HEADER_BYTES", "must be between 8192 and 1048576"));
        }
        if self.database_max_connections == 0 {
            return Err(invalid("BLINDVAULT_DATABASE_MAX_CONNECTIONS", "must be at least 1"));
        }
        if self.inline_bytes > crate::store::MAX_CACHED_BODY as u64 {
            return Err(invalid("BLINDVAULT_INLINE_BYTES", "must be at most 262144"));
        }
        if self.max_json_vault_bytes == 0 || self.max_json_vault_bytes > self.max_vault_bytes {
            return Err(invalid(
                "BLINDVAULT_MAX_JSON_VAULT_BYTES",
                "must be at least 1 and at most BLINDVAULT_MAX_VAULT_BYTES",
            ));
        }
        Ok(())
    }
}

/// 32 bytes from standard base64 (padded or not), surrounding whitespace ignored.
pub fn decode_secrets_key(text: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let text = text.trim().trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(text).ok()?;
    bytes.try_into().ok()
}

/// Parses `15m`, `30d`, `500ms`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|_| format!("'{s}' is not a duration such as 30s, 15m or 30d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Settings {
        Settings::from_args(args.iter().copied()).unwrap()
    }

    #[test]
    fn storage_urls() {
        let s = parse(&["--storage-url", "s3://vaults/prod/eu", "--s3-region", "eu-west-3"]);
        let BlobLocation::S3(target) = s.storage().unwrap() else { panic!("not S3") };
        assert_eq!(
            (target.bucket.as_str(), target.prefix.as_deref(), target.region.as_str()),
            ("vaults", Some("prod/eu"), "eu-west-3")
        );
        assert!(parse(&["--storage-url", "s3://Bad_Bucket"]).storage().is_err());
        assert!(parse(&["--storage-url", "ftp://x"]).storage().is_err());
        assert_eq!(
            parse(&["--data-dir", "/srv/bv"]).storage().unwrap(),
            BlobLocation::Local(PathBuf::from("/srv/bv/objects"))
        );
    }

    #[test]
    fn postgres_requires_a_jwt_secret_and_redacts_passwords() {
        let s = parse(&["--database-url", "postgres://app:hunter2@db/bv"]);
        let err = s.validate().unwrap_err();
        assert_eq!(err.setting, "BLINDVAULT_JWT_SECRET");
        let printed = format!("{:?}", s.effective());
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("postgres://app:%3Credacted%3E@db/bv") || printed.contains("<redacted>"));
    }

    #[test]
    fn zero_durations_are_refused() {
        let err = parse(&["--access-ttl", "0s"]).validate().unwrap_err();
        assert_eq!(err.setting, "BLINDVAULT_ACCESS_TTL");
    }
}
