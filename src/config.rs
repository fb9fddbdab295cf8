//! One typed settings tree, read once: command-line flag > environment variable > default.
//!
//! Every setting has a flag and a `BLINDVAULT_*` (or standard `AWS_*`) variable; `--help`
//! lists them. [`Settings::validate`] turns anything unusable into one line naming the setting.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};
use ipnet::IpNet;
use thiserror::Error;

/// A value that must never be printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Whether new accounts may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Registration {
    /// Anyone may register.
    Open,
    /// Registration answers 403 `registration_closed`.
    Closed,
}

impl Registration {
    /// `open` or `closed`, as `/api/v1/limits` reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Open => "open",
            Registration::Closed => "closed",
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Where metadata lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// `postgres://...` (the URL may hold a password).
    Postgres(Secret),
    /// `sqlite://path`.
    Sqlite(String),
}

/// Where ciphertext objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// A local directory (`file://path`).
    Local(PathBuf),
    /// An S3 bucket, optionally under a key prefix (`s3://bucket/prefix`).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket.
        prefix: Option<String>,
    },
}

/// S3 client settings, named as the AWS tools name them.
#[derive(Debug, Clone, Args)]
pub struct S3Settings {
    /// S3 endpoint for MinIO, Garage and other S3-compatible servers (AWS when unset)
    #[arg(long = "s3-endpoint", env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint: Option<String>,
    /// S3 region
    #[arg(long = "s3-region", env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// S3 access key id
    #[arg(
        long = "s3-access-key-id",
        env = "AWS_ACCESS_KEY_ID",
        hide_env_values = true
    )]
    pub access_key_id: Option<String>,
    /// S3 secret access key
    #[arg(
        long = "s3-secret-access-key",
        env = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub secret_access_key: Option<Secret>,
    /// S3 session token (temporary credentials)
    #[arg(
        long = "s3-session-token",
        env = "AWS_SESSION_TOKEN",
        hide_env_values = true
    )]
    pub session_token: Option<Secret>,
    /// Allow plain-HTTP S3 endpoints
    #[arg(long = "s3-allow-http", env = "AWS_ALLOW_HTTP", default_value = "false",
          action = ArgAction::Set, value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub allow_http: bool,
}

/// Everything the server is configured by.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on
    #[arg(
        long,
        env = "BLINDVAULT_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,
    /// Directory for the embedded deployment's database, objects and generated keys
    #[arg(
        long,
        env = "BLINDVAULT_DATA_DIR",
        default_value = "./data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,
    /// Metadata database: postgres://... or sqlite://path [default: sqlite://<data-dir>/blindvault.db]
    #[arg(
        long,
        env = "BLINDVAULT_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<Secret>,
    #[arg(
        long = "database-url-fallback",
        env = "DATABASE_URL",
        hide = true,
        hide_env_values = true
    )]
    database_url_fallback: Option<Secret>,
    /// Most database connections this process opens
    #[arg(
        long,
        env = "BLINDVAULT_DATABASE_MAX_CONNECTIONS",
        default_value_t = 16,
        value_name = "N"
    )]
    pub database_max_connections: u32,
    /// Database connections are replaced after this long
    #[arg(long, env = "BLINDVAULT_DATABASE_MAX_LIFETIME", default_value = "30m", value_parser = parse_duration, value_name = "DURATION")]
    pub database_max_lifetime: Duration,
    /// How long a request waits for a database connection before answering 503
    #[arg(long, env = "BLINDVAULT_DATABASE_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub database_acquire_timeout: Duration,
    /// Object storage: s3://bucket[/prefix] or file://path [default: file://<data-dir>/objects]
    #[arg(long, env = "BLINDVAULT_STORAGE_URL", value_name = "URL")]
    pub storage_url: Option<String>,
    #[command(flatten)]
    pub s3: S3Settings,
    /// Key that signs access tokens, at least 32 bytes; required with Postgres so that
    /// replicas share it [default: generated into <data-dir>/jwt.key]
    #[arg(
        long,
        env = "BLINDVAULT_JWT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub jwt_secret: Option<Secret>,
    /// Argon2id memory cost in KiB
    #[arg(
        long,
        env = "BLINDVAULT_ARGON2_M_KIB",
        default_value_t = 19456,
        value_name = "KIB"
    )]
    pub argon2_m_kib: u32,
    /// Argon2id iterations
    #[arg(
        long,
        env = "BLINDVAULT_ARGON2_T",
        default_value_t = 2,
        value_name = "N"
    )]
    pub argon2_t: u32,
    /// Argon2id parallelism
    #[arg(
        long,
        env = "BLINDVAULT_ARGON2_P",
        default_value_t = 1,
        value_name = "N"
    )]
    pub argon2_p: u32,
    /// Argon2 hashes computed at once [default: number of cores]
    #[arg(long, env = "BLINDVAULT_ARGON2_CONCURRENCY", value_name = "N")]
    pub argon2_concurrency: Option<usize>,
    /// Hashes that may wait for a slot; beyond that requests get 503 [default: 16 per slot]
    #[arg(long, env = "BLINDVAULT_ARGON2_QUEUE", value_name = "N")]
    pub argon2_queue: Option<usize>,
    /// Access-token lifetime
    #[arg(long, env = "BLINDVAULT_ACCESS_TTL", default_value = "15m", value_parser = parse_duration, value_name = "DURATION")]
    pub access_ttl: Duration,
    /// Refresh-token lifetime (sliding: every refresh extends it)
    #[arg(long, env = "BLINDVAULT_REFRESH_TTL", default_value = "30d", value_parser = parse_duration, value_name = "DURATION")]
    pub refresh_ttl: Duration,
    /// Whether new accounts may register
    #[arg(
        long,
        env = "BLINDVAULT_REGISTRATION",
        value_enum,
        default_value = "open"
    )]
    pub registration: Registration,
    /// Lowest PBKDF2 iteration count accepted at registration
    #[arg(
        long,
        env = "BLINDVAULT_MIN_KDF_ITERATIONS",
        default_value_t = 600_000,
        value_name = "N"
    )]
    pub min_kdf_iterations: u32,
    /// Failed logins per account within the window before 429
    #[arg(
        long,
        env = "BLINDVAULT_LOGIN_MAX_FAILURES_PER_ACCOUNT",
        default_value_t = 10,
        value_name = "N"
    )]
    pub login_max_failures_per_account: u32,
    /// Failed logins per client address within the window before 429
    #[arg(
        long,
        env = "BLINDVAULT_LOGIN_MAX_FAILURES_PER_ADDRESS",
        default_value_t = 100,
        value_name = "N"
    )]
    pub login_max_failures_per_address: u32,
    /// The window over which failed logins are counted
    #[arg(long, env = "BLINDVAULT_LOGIN_FAILURE_WINDOW", default_value = "15m", value_parser = parse_duration, value_name = "DURATION")]
    pub login_failure_window: Duration,
    /// Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For is believed
    #[arg(
        long,
        env = "BLINDVAULT_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDRS"
    )]
    pub trusted_proxies: Vec<IpNet>,
    /// Largest vault accepted in a JSON body, in bytes of ciphertext
    #[arg(long, env = "BLINDVAULT_MAX_JSON_VAULT_BYTES", default_value_t = 16 * 1024 * 1024, value_name = "BYTES")]
    pub max_json_vault_bytes: u64,
    /// Largest vault accepted as a stream, in bytes of ciphertext
    #[arg(long, env = "BLINDVAULT_MAX_VAULT_BYTES", default_value_t = 10 * 1024 * 1024 * 1024, value_name = "BYTES")]
    pub max_vault_bytes: u64,
    /// How long a stop waits for in-flight requests
    #[arg(long, env = "BLINDVAULT_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_timeout: Duration,
    /// Log format [default: pretty on a terminal, else json]; filter with RUST_LOG
    #[arg(long, env = "BLINDVAULT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

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
    ConfigError {
        setting,
        message: message.into(),
    }
}

#[derive(clap::Parser)]
#[command(no_binary_name = true, args_override_self = true)]
struct SettingsOnly {
    #[command(flatten)]
    settings: Settings,
}

impl Settings {
    /// Parses settings from flags (after the environment and defaults), as `serve` would.
    /// For embedding and tests.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        SettingsOnly::try_parse_from(args).map(|s| s.settings)
    }

    /// Where metadata lives.
    pub fn database(&self) -> Result<DatabaseLocation, ConfigError> {
        let Some(url) = self
            .database_url
            .as_ref()
            .or(self.database_url_fallback.as_ref())
        else {
            let path = self.data_dir.join("blindvault.db");
            return Ok(DatabaseLocation::Sqlite(format!(
                "sqlite://{}",
                path.display()
            )));
        };
        let raw = url.expose();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(DatabaseLocation::Postgres(url.clone()))
        } else if raw.starts_with("sqlite:") {
            Ok(DatabaseLocation::Sqlite(raw.to_owned()))
        } else {
            Err(invalid(
                "BLINDVAULT_DATABASE_URL",
                "expected postgres://... or sqlite://path",
            ))
        }
    }

    /// Where ciphertext lives.
    pub fn storage(&self) -> Result<StorageLocation, ConfigError> {
        let Some(url) = &self.storage_url else {
            return Ok(StorageLocation::Local(self.data_dir.join("objects")));
        };
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(invalid(
                    "BLINDVAULT_STORAGE_URL",
                    "file:// needs a directory",
                ));
            }
            return Ok(StorageLocation::Local(PathBuf::from(path)));
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(invalid(
                "BLINDVAULT_STORAGE_URL",
                "expected s3://bucket[/prefix] or file://path",
            ));
        };
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (
                b,
                Some(p.trim_matches('/').to_owned()).filter(|p| !p.is_empty()),
            ),
            None => (rest, None),
        };
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(invalid(
                "BLINDVAULT_STORAGE_URL",
                "the bucket name is not a valid S3 bucket name",
            ));
        }
        Ok(StorageLocation::S3 {
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    /// Argon2 hashes computed at once.
    pub fn argon2_slots(&self) -> usize {
        self.argon2_concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Argon2 hashes that may wait for a slot.
    pub fn argon2_waiting(&self) -> usize {
        self.argon2_queue.unwrap_or(16 * self.argon2_slots())
    }

    /// The log format: as set, or pretty on a terminal and JSON elsewhere.
    pub fn log_format(&self) -> LogFormat {
        use std::io::IsTerminal;
        self.log_format
            .unwrap_or(if std::io::stderr().is_terminal() {
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
                return Err(invalid(
                    "BLINDVAULT_JWT_SECRET",
                    "must be at least 32 bytes",
                ));
            }
        } else if matches!(database, DatabaseLocation::Postgres(_)) {
            return Err(invalid(
                "BLINDVAULT_JWT_SECRET",
                "required when the database is Postgres, so that every replica signs with the same key",
            ));
        }
        argon2::Params::new(self.argon2_m_kib, self.argon2_t, self.argon2_p, Some(32)).map_err(
            |e| {
                invalid(
                    "BLINDVAULT_ARGON2_M_KIB",
                    format!("Argon2 parameters rejected: {e}"),
                )
            },
        )?;
        if self.argon2_m_kib < 8 * self.argon2_p {
            return Err(invalid(
                "BLINDVAULT_ARGON2_M_KIB",
                "must be at least 8 × BLINDVAULT_ARGON2_P",
            ));
        }
        if self.argon2_concurrency == Some(0) {
            return Err(invalid(
                "BLINDVAULT_ARGON2_CONCURRENCY",
                "must be at least 1",
            ));
        }
        let durations = [
            ("BLINDVAULT_ACCESS_TTL", self.access_ttl),
            ("BLINDVAULT_REFRESH_TTL", self.refresh_ttl),
            ("BLINDVAULT_LOGIN_FAILURE_WINDOW", self.login_failure_window),
            (
                "BLINDVAULT_DATABASE_ACQUIRE_TIMEOUT",
                self.database_acquire_timeout,
            ),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(invalid(name, "must be longer than zero"));
        }
        if self.refresh_ttl < self.access_ttl {
            return Err(invalid(
                "BLINDVAULT_REFRESH_TTL",
                "must not be shorter than BLINDVAULT_ACCESS_TTL",
            ));
        }
        if self.min_kdf_iterations < 100_000 {
            return Err(invalid(
                "BLINDVAULT_MIN_KDF_ITERATIONS",
                "must be at least 100000",
            ));
        }
        if self.database_max_connections == 0 {
            return Err(invalid(
                "BLINDVAULT_DATABASE_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        if self.max_json_vault_bytes == 0 || self.max_json_vault_bytes > self.max_vault_bytes {
            return Err(invalid(
                "BLINDVAULT_MAX_JSON_VAULT_BYTES",
                "must be at least 1 and at most BLINDVAULT_MAX_VAULT_BYTES",
            ));
        }
        Ok(())
    }

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
        let opt = |v: &Option<Secret>| v.as_ref().map_or("", |_| "<redacted>").to_owned();
        let proxies: Vec<String> = self.trusted_proxies.iter().map(IpNet::to_string).collect();
        vec![
            ("BLINDVAULT_LISTEN", self.listen.to_string()),
            ("BLINDVAULT_DATA_DIR", self.data_dir.display().to_string()),
            ("BLINDVAULT_DATABASE_URL", database),
            (
                "BLINDVAULT_DATABASE_MAX_CONNECTIONS",
                self.database_max_connections.to_string(),
            ),
            (
                "BLINDVAULT_DATABASE_MAX_LIFETIME",
                show(self.database_max_lifetime),
            ),
            (
                "BLINDVAULT_DATABASE_ACQUIRE_TIMEOUT",
                show(self.database_acquire_timeout),
            ),
            ("BLINDVAULT_STORAGE_URL", storage),
            (
                "AWS_ENDPOINT_URL",
                self.s3.endpoint.clone().unwrap_or_default(),
            ),
            ("AWS_REGION", self.s3.region.clone()),
            (
                "AWS_ACCESS_KEY_ID",
                self.s3
                    .access_key_id
                    .as_ref()
                    .map_or("", |_| "<redacted>")
                    .to_owned(),
            ),
            ("AWS_SECRET_ACCESS_KEY", opt(&self.s3.secret_access_key)),
            ("AWS_SESSION_TOKEN", opt(&self.s3.session_token)),
            ("AWS_ALLOW_HTTP", self.s3.allow_http.to_string()),
            ("BLINDVAULT_JWT_SECRET", jwt),
            ("BLINDVAULT_ARGON2_M_KIB", self.argon2_m_kib.to_string()),
            ("BLINDVAULT_ARGON2_T", self.argon2_t.to_string()),
            ("BLINDVAULT_ARGON2_P", self.argon2_p.to_string()),
            (
                "BLINDVAULT_ARGON2_CONCURRENCY",
                self.argon2_slots().to_string(),
            ),
            ("BLINDVAULT_ARGON2_QUEUE", self.argon2_waiting().to_string()),
            ("BLINDVAULT_ACCESS_TTL", show(self.access_ttl)),
            ("BLINDVAULT_REFRESH_TTL", show(self.refresh_ttl)),
            (
                "BLINDVAULT_REGISTRATION",
                self.registration.as_str().to_owned(),
            ),
            (
                "BLINDVAULT_MIN_KDF_ITERATIONS",
                self.min_kdf_iterations.to_string(),
            ),
            (
                "BLINDVAULT_LOGIN_MAX_FAILURES_PER_ACCOUNT",
                self.login_max_failures_per_account.to_string(),
            ),
            (
                "BLINDVAULT_LOGIN_MAX_FAILURES_PER_ADDRESS",
                self.login_max_failures_per_address.to_string(),
            ),
            (
                "BLINDVAULT_LOGIN_FAILURE_WINDOW",
                show(self.login_failure_window),
            ),
            ("BLINDVAULT_TRUSTED_PROXIES", proxies.join(",")),
            (
                "BLINDVAULT_MAX_JSON_VAULT_BYTES",
                self.max_json_vault_bytes.to_string(),
            ),
            (
                "BLINDVAULT_MAX_VAULT_BYTES",
                self.max_vault_bytes.to_string(),
            ),
            ("BLINDVAULT_SHUTDOWN_TIMEOUT", show(self.shutdown_timeout)),
            (
                "BLINDVAULT_LOG_FORMAT",
                format!("{:?}", self.log_format()).to_lowercase(),
            ),
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

/// Parses `15m`, `30d`, `500ms`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|_| format!("'{s}' is not a duration such as 30s, 15m or 30d"))
}

/// Creates `dir` and its parents; a directory this creates is readable by its owner only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Settings {
        Settings::from_args(args.iter().copied()).unwrap()
    }

    #[test]
    fn storage_urls() {
        let s = parse(&["--storage-url", "s3://vaults/prod/eu"]);
        assert_eq!(
            s.storage().unwrap(),
            StorageLocation::S3 {
                bucket: "vaults".into(),
                prefix: Some("prod/eu".into())
            }
        );
        assert!(
            parse(&["--storage-url", "s3://Bad_Bucket"])
                .storage()
                .is_err()
        );
        assert!(parse(&["--storage-url", "ftp://x"]).storage().is_err());
        assert_eq!(
            parse(&["--data-dir", "/srv/bv"]).storage().unwrap(),
            StorageLocation::Local(PathBuf::from("/srv/bv/objects"))
        );
    }

    #[test]
    fn postgres_requires_a_jwt_secret_and_redacts_passwords() {
        let s = parse(&["--database-url", "postgres://app:hunter2@db/bv"]);
        let err = s.validate().unwrap_err();
        assert_eq!(err.setting, "BLINDVAULT_JWT_SECRET");
        let printed = format!("{:?}", s.effective());
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("postgres://app:%3Credacted%3E@db/bv")
                || printed.contains("<redacted>")
        );
    }

    #[test]
    fn zero_durations_are_refused() {
        let err = parse(&["--access-ttl", "0s"]).validate().unwrap_err();
        assert_eq!(err.setting, "BLINDVAULT_ACCESS_TTL");
    }
}
