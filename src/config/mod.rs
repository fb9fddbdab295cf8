//! One typed settings tree, read once: command-line flag > environment variable > default.
//!
//! Every setting has a flag and a `BLINDVAULT_*` (or standard `AWS_*`) variable; `--help`
//! lists them. [`Settings::validate`] turns anything unusable into one line naming the setting.

mod effective;
mod resolve;
mod types;

pub use resolve::{ConfigError, decode_secrets_key, parse_duration};
pub use types::{DatabaseLocation, LogFormat, Registration, Secret};

/// Bodies up to this size are kept in the database by default: below it, an object-store
/// write's fixed cost (a request, the storage server's fsync) outweighs the bytes; above it,
/// the bytes start to dominate what the database writes to its log and its backups.
pub const DEFAULT_INLINE_BYTES: u64 = 16 * 1024;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};
use ipnet::IpNet;

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
    #[arg(long = "s3-access-key-id", env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub access_key_id: Option<String>,
    /// S3 secret access key
    #[arg(long = "s3-secret-access-key", env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<Secret>,
    /// S3 session token (temporary credentials)
    #[arg(long = "s3-session-token", env = "AWS_SESSION_TOKEN", hide_env_values = true)]
    pub session_token: Option<Secret>,
    /// Allow plain-HTTP S3 endpoints
    #[arg(long = "s3-allow-http", env = "AWS_ALLOW_HTTP", default_value = "false",
          action = ArgAction::Set, value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub allow_http: bool,
    /// Send object bodies as UNSIGNED-PAYLOAD instead of hashing each one into the request
    /// signature: halves the gateway's CPU per byte. Integrity still holds: TLS protects the
    /// transfer, and clients authenticate every ciphertext chunk (AES-GCM) when they decrypt
    #[arg(long = "s3-unsigned-payload", env = "AWS_UNSIGNED_PAYLOAD", default_value = "true",
          action = ArgAction::Set, value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub unsigned_payload: bool,
    /// The S3 endpoint as clients reach it, for the presigned URLs of direct transfers, when it
    /// differs from --s3-endpoint (say, a cluster-internal address) [default: --s3-endpoint]
    #[arg(long = "s3-public-endpoint", env = "AWS_PUBLIC_ENDPOINT_URL", value_name = "URL")]
    pub public_endpoint: Option<String>,
}

/// Everything the server is configured by.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on
    #[arg(long, env = "BLINDVAULT_LISTEN", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Directory for the embedded deployment's database, objects and generated keys
    #[arg(long, env = "BLINDVAULT_DATA_DIR", default_value = "./data", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Metadata database: postgres://... or sqlite://path [default: sqlite://<data-dir>/blindvault.db]
    #[arg(long, env = "BLINDVAULT_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<Secret>,
    #[arg(long = "database-url-fallback", env = "DATABASE_URL", hide = true, hide_env_values = true)]
    database_url_fallback: Option<Secret>,
    /// Most database connections this process opens
    #[arg(long, env = "BLINDVAULT_DATABASE_MAX_CONNECTIONS", default_value_t = 16, value_name = "N")]
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
    #[arg(long, env = "BLINDVAULT_JWT_SECRET", hide_env_values = true, value_name = "SECRET")]
    pub jwt_secret: Option<Secret>,
    /// The signing key before the last rotation: its tokens are still accepted (by `kid`)
    /// until they expire; remove it after one access-token lifetime
    #[arg(long, env = "BLINDVAULT_JWT_PREVIOUS_SECRET", hide_env_values = true, value_name = "SECRET")]
    pub jwt_previous_secret: Option<Secret>,
    /// Key (32 bytes, base64) that seals the TOTP secrets at rest; required with Postgres so
    /// that replicas share it [default: generated into <data-dir>/secrets.key]
    #[arg(long, env = "BLINDVAULT_SECRETS_KEY", hide_env_values = true, value_name = "BASE64")]
    pub secrets_key: Option<Secret>,
    /// The address browsers reach this server at: WebAuthn's origin, and its host the relying
    /// party id [default: http://localhost:<port of BLINDVAULT_LISTEN>]
    #[arg(long, env = "BLINDVAULT_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<url::Url>,
    /// Argon2id memory cost in KiB
    #[arg(long, env = "BLINDVAULT_ARGON2_M_KIB", default_value_t = 19456, value_name = "KIB")]
    pub argon2_m_kib: u32,
    /// Argon2id iterations
    #[arg(long, env = "BLINDVAULT_ARGON2_T", default_value_t = 2, value_name = "N")]
    pub argon2_t: u32,
    /// Argon2id parallelism
    #[arg(long, env = "BLINDVAULT_ARGON2_P", default_value_t = 1, value_name = "N")]
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
    /// Who may register: anyone (open), holders of an invite code from `blindvault admin
    /// invite` (invite), or nobody (closed)
    #[arg(long, env = "BLINDVAULT_REGISTRATION", value_enum, default_value = "open")]
    pub registration: Registration,
    /// Lowest PBKDF2 iteration count accepted at registration
    #[arg(long, env = "BLINDVAULT_MIN_KDF_ITERATIONS", default_value_t = 600_000, value_name = "N")]
    pub min_kdf_iterations: u32,
    /// Failed logins per account within the window before 429
    #[arg(long, env = "BLINDVAULT_LOGIN_MAX_FAILURES_PER_ACCOUNT", default_value_t = 10, value_name = "N")]
    pub login_max_failures_per_account: u32,
    /// Failed logins per client address within the window before 429
    #[arg(long, env = "BLINDVAULT_LOGIN_MAX_FAILURES_PER_ADDRESS", default_value_t = 100, value_name = "N")]
    pub login_max_failures_per_address: u32,
    /// The window over which failed logins are counted
    #[arg(long, env = "BLINDVAULT_LOGIN_FAILURE_WINDOW", default_value = "15m", value_parser = parse_duration, value_name = "DURATION")]
    pub login_failure_window: Duration,
    /// Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For is believed
    #[arg(long, env = "BLINDVAULT_TRUSTED_PROXIES", value_delimiter = ',', value_name = "CIDRS")]
    pub trusted_proxies: Vec<IpNet>,
    /// Web origins (comma-separated, e.g. https://vault.example.com) allowed to call the API
    /// from a browser, tus uploads included (CORS); none by default
    #[arg(long, env = "BLINDVAULT_CORS_ORIGINS", value_delimiter = ',', value_name = "ORIGINS")]
    pub cors_origins: Vec<String>,
    /// Serve the web vault page at `/` (its files are built into the binary)
    #[arg(long, env = "BLINDVAULT_WEB", default_value = "true",
          action = ArgAction::Set, value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub web: bool,
    /// Serve the web page's files from this directory instead of the built-in ones (for
    /// developing the page: files are read on every request)
    #[arg(long, env = "BLINDVAULT_WEB_DIR", value_name = "DIR")]
    pub web_dir: Option<PathBuf>,
    /// Largest body kept in the database instead of the object store, in bytes (0: none; at
    /// most 262144). Applies to writes whose length is known up front (JSON, and streams with
    /// Content-Length); resumable and direct uploads always go to the object store
    #[arg(long, env = "BLINDVAULT_INLINE_BYTES", default_value_t = DEFAULT_INLINE_BYTES, value_name = "BYTES")]
    pub inline_bytes: u64,
    /// Largest vault accepted in a JSON body, in bytes of ciphertext
    #[arg(long, env = "BLINDVAULT_MAX_JSON_VAULT_BYTES", default_value_t = 16 * 1024 * 1024, value_name = "BYTES")]
    pub max_json_vault_bytes: u64,
    /// Largest vault accepted as a stream, in bytes of ciphertext
    #[arg(long, env = "BLINDVAULT_MAX_VAULT_BYTES", default_value_t = 10 * 1024 * 1024 * 1024, value_name = "BYTES")]
    pub max_vault_bytes: u64,
    /// Most ciphertext bytes one user may store [default: unlimited]
    #[arg(long, env = "BLINDVAULT_QUOTA_BYTES", value_name = "BYTES")]
    pub quota_bytes: Option<u64>,
    /// Most vaults one user may hold [default: unlimited]
    #[arg(long, env = "BLINDVAULT_QUOTA_VAULTS", value_name = "N")]
    pub quota_vaults: Option<u64>,
    /// With S3: how long the presigned URL of a direct download (`GET .../content?direct=true`
    /// answered 307) stays valid; at most --delete-grace; 0s turns direct downloads off
    #[arg(long, env = "BLINDVAULT_DIRECT_URL_TTL", default_value = "1m", value_parser = parse_duration, value_name = "DURATION")]
    pub direct_url_ttl: Duration,
    /// How long a replaced or deleted revision stays readable for requests already streaming it
    #[arg(long, env = "BLINDVAULT_DELETE_GRACE", default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub delete_grace: Duration,
    /// Earlier revisions of each vault kept whatever their age (0: none by count)
    #[arg(long, env = "BLINDVAULT_KEEP_REVISIONS", default_value_t = 10, value_name = "N")]
    pub keep_revisions: u32,
    /// Earlier revisions kept for this long after they were replaced, however many (0s: none
    /// by age). A revision goes once neither rule keeps it
    #[arg(long, env = "BLINDVAULT_KEEP_FOR", default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub keep_for: Duration,
    /// How long a deleted vault stays in the trash before it is purged (0s: deletes purge at once)
    #[arg(long, env = "BLINDVAULT_TRASH_FOR", default_value = "30d", value_parser = parse_duration, value_name = "DURATION")]
    pub trash_for: Duration,
    /// How long the change log keeps a change; a cursor older than that must list afresh
    #[arg(long, env = "BLINDVAULT_CHANGES_FOR", default_value = "30d", value_parser = parse_duration, value_name = "DURATION")]
    pub changes_for: Duration,
    /// Where backups go: a directory [default: the object store, under `backups/`]
    #[arg(long, env = "BLINDVAULT_BACKUP_DIR", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// How many backups are kept; older ones are removed when a new one is taken
    #[arg(long, env = "BLINDVAULT_BACKUP_KEEP", default_value_t = 10, value_name = "N")]
    pub backup_keep: u32,
    /// How long an account's audit trail keeps an event
    #[arg(long, env = "BLINDVAULT_AUDIT_FOR", default_value = "90d", value_parser = parse_duration, value_name = "DURATION")]
    pub audit_for: Duration,
    /// The longest a change-feed request waits for a change before it answers empty (at most
    /// 60s; lower it where a proxy cuts idle requests sooner)
    #[arg(long, env = "BLINDVAULT_FEED_MAX_WAIT", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub feed_max_wait: Duration,
    /// How often an idle change stream (`GET /api/v1/changes/stream`) sends a heartbeat
    #[arg(long, env = "BLINDVAULT_FEED_HEARTBEAT", default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    pub feed_heartbeat: Duration,
    /// A streamed or resumable upload that has not committed after this long is abandoned and
    /// swept (for resumable uploads: their Upload-Expires)
    #[arg(long, env = "BLINDVAULT_UPLOAD_TIMEOUT", default_value = "24h", value_parser = parse_duration, value_name = "DURATION")]
    pub upload_timeout: Duration,
    /// Memory for caching small vault bodies (three quarters) and their JSON answers (a
    /// quarter), in bytes; 0 caches neither
    #[arg(long, env = "BLINDVAULT_CACHE_BYTES", default_value_t = 64 * 1024 * 1024, value_name = "BYTES")]
    pub cache_bytes: u64,
    /// How often the object sweeper runs
    #[arg(long, env = "BLINDVAULT_SWEEP_INTERVAL", default_value = "1m", value_parser = parse_duration, value_name = "DURATION")]
    pub sweep_interval: Duration,
    /// How long a stop waits for in-flight requests
    #[arg(long, env = "BLINDVAULT_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_timeout: Duration,
    /// A client must send a request's headers within this long, or the connection is closed
    #[arg(long, env = "BLINDVAULT_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub header_read_timeout: Duration,
    /// A request body that sends nothing for this long is abandoned with 408
    #[arg(long, env = "BLINDVAULT_BODY_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub body_read_timeout: Duration,
    /// Largest request head (request line and headers); past it, 431
    #[arg(long, env = "BLINDVAULT_MAX_HEADER_BYTES", default_value_t = 64 * 1024, value_name = "BYTES")]
    pub max_header_bytes: usize,
    /// Serve /metrics on this separate address instead of the main listener
    #[arg(long, env = "BLINDVAULT_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log format [default: pretty on a terminal, else json]; filter with RUST_LOG
    #[arg(long, env = "BLINDVAULT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
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
}
