//! Spawning the real application on port 0 with its own database and object prefix, on
//! either deployment, and talking to it over HTTP.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blindvault::api::AppState;
use blindvault::store::MetadataStore;
use blindvault::{Application, Migrations, Settings};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;
use uuid::Uuid;

/// Cheap Argon2 parameters so that the suite is fast; tests about cost set their own.
pub const CHEAP_ARGON2: [&str; 6] = ["--argon2-m-kib", "256", "--argon2-t", "1", "--argon2-p", "1"];

/// Which deployment a test runs on.
#[derive(Debug, Clone)]
pub enum Deployment {
    /// SQLite + local files.
    Embedded,
    /// Postgres + S3 (moto in the suite, or Garage in its smoke test).
    Production { admin_url: String, s3_endpoint: String, bucket: String, s3: S3Access },
}

/// Region and credentials of the S3 server under test.
#[derive(Debug, Clone)]
pub struct S3Access {
    /// The region the server expects requests to be signed for.
    pub region: String,
    /// Access key id.
    pub key_id: String,
    /// Secret access key.
    pub secret: String,
}

impl S3Access {
    /// moto accepts any credentials in any region.
    fn moto() -> Self {
        Self { region: "us-east-1".into(), key_id: "test".into(), secret: "test".into() }
    }
}

impl Deployment {
    /// The production deployment if the suite was given Postgres and S3; else `None` after a
    /// loud message, or a panic when the suite must run everything (CI).
    pub fn production() -> Option<Self> {
        let vars = (
            std::env::var("BLINDVAULT_TEST_DATABASE_URL"),
            std::env::var("BLINDVAULT_TEST_S3_ENDPOINT"),
            std::env::var("BLINDVAULT_TEST_S3_BUCKET"),
        );
        match vars {
            (Ok(admin_url), Ok(s3_endpoint), Ok(bucket)) => {
                Some(Self::Production { admin_url, s3_endpoint, bucket, s3: S3Access::moto() })
            }
            _ if std::env::var("BLINDVAULT_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1") => {
                panic!("BLINDVAULT_TEST_REQUIRE_ALL=1 but Postgres/S3 are not configured; run ./scripts/test")
            }
            _ => {
                eprintln!(
                    "SKIPPED (production deployment): set BLINDVAULT_TEST_DATABASE_URL, _S3_ENDPOINT and _S3_BUCKET, or run ./scripts/test"
                );
                None
            }
        }
    }

    /// Postgres + Garage, when scripts/test found a garage binary and started it; else `None`
    /// after a loud message (Garage is optional: installing it takes about 18 minutes).
    pub fn garage() -> Option<Self> {
        let var = |name: &str| std::env::var(format!("BLINDVAULT_TEST_GARAGE_{name}")).ok();
        let admin_url = std::env::var("BLINDVAULT_TEST_DATABASE_URL").ok();
        match (admin_url, var("ENDPOINT"), var("BUCKET"), var("REGION"), var("KEY_ID"), var("SECRET")) {
            (Some(admin_url), Some(s3_endpoint), Some(bucket), Some(region), Some(key_id), Some(secret)) => {
                Some(Self::Production {
                    admin_url,
                    s3_endpoint,
                    bucket,
                    s3: S3Access { region, key_id, secret },
                })
            }
            _ => {
                eprintln!("SKIPPED (Garage smoke test): no garage binary; `scripts/garage install` adds one");
                None
            }
        }
    }

    /// Flags that put a fresh, private database and object prefix under a new app.
    pub async fn fresh_storage(&self, data_dir: &std::path::Path) -> Vec<String> {
        let mut args = vec!["--data-dir".to_owned(), data_dir.display().to_string()];
        if let Deployment::Production { admin_url, s3_endpoint, bucket, s3 } = self {
            let (url, name) = fresh_database(admin_url).await;
            args.extend([
                "--database-url".to_owned(),
                url,
                "--storage-url".to_owned(),
                format!("s3://{bucket}/{name}"),
                "--s3-endpoint".to_owned(),
                s3_endpoint.clone(),
                "--s3-allow-http".to_owned(),
                "true".to_owned(),
                "--s3-region".to_owned(),
                s3.region.clone(),
                "--s3-access-key-id".to_owned(),
                s3.key_id.clone(),
                "--s3-secret-access-key".to_owned(),
                s3.secret.clone(),
                "--jwt-secret".to_owned(),
                "integration-test-secret-0123456789abcdef".to_owned(),
                "--secrets-key".to_owned(),
                SECRETS_KEY.to_owned(),
            ]);
        }
        args
    }
}

/// A new, empty Postgres database beside `admin_url`'s: its URL and its name. The creation
/// time in the name lets scripts/test drop leftovers of old runs without touching the
/// databases of a suite running right now.
pub async fn fresh_database(admin_url: &str) -> (String, String) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let name = format!("bv_test_{}_{}", now.as_secs(), Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("connect to the admin database");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let mut url = url::Url::parse(admin_url).expect("admin url");
    url.set_path(&name);
    (url.to_string(), name)
}

/// The secrets key of the production deployment under test (32 bytes of base64).
pub const SECRETS_KEY: &str = "aW50ZWdyYXRpb24tdGVzdC1zZWNyZXRzLWtleS0wMTI=";

/// A running application and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The metadata store behind it, to check what is at rest.
    pub store: Arc<dyn MetadataStore>,
    /// The object store behind it, likewise.
    pub blobs: blindvault::store::BlobStore,
    /// Its vault store, for the bodies it keeps in the database.
    pub vault_store: Arc<dyn blindvault::store::VaultStore>,
    /// Its services (vaults, sweeper, caches), to check what is at rest.
    pub state: AppState,
    /// The HTTP client.
    pub client: reqwest::Client,
    /// The flags it was started with (storage included), to start a sibling on the same data.
    pub args: Vec<String>,
    /// Keeps the data directory alive.
    pub dir: Arc<tempfile::TempDir>,
    /// The deployment.
    pub deployment: Deployment,
}

/// Spawns an app with fresh storage and cheap hashing.
pub async fn spawn_app(deployment: &Deployment) -> TestApp {
    spawn_app_with(deployment, &[]).await
}

/// Spawns an app with fresh storage and the given extra flags (later flags win).
pub async fn spawn_app_with(deployment: &Deployment, extra: &[&str]) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut args = deployment.fresh_storage(dir.path()).await;
    args.extend(["--listen", "127.0.0.1:0"].map(String::from));
    args.extend(CHEAP_ARGON2.map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    start(deployment.clone(), args, dir).await
}

impl TestApp {
    /// Starts another app on the same database and objects, with `extra` flags on top.
    pub async fn sibling(&self, extra: &[&str]) -> TestApp {
        let mut args = self.args.clone();
        args.extend(extra.iter().map(|s| s.to_string()));
        start(self.deployment.clone(), args, Arc::clone(&self.dir)).await
    }

    /// `METHOD path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request sent")
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.call(Method::POST, path, None, Some(body)).await
    }

    /// Registers a new random user; returns its credentials.
    pub async fn register(&self) -> Creds {
        let creds = Creds::random();
        let resp = self.post("/api/v1/auth/register", creds.register_body()).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap_or_default());
        creds
    }

    /// The stored user named `username` (which must exist).
    pub async fn stored_user(&self, username: &str) -> blindvault::store::User {
        self.store.user_by_username(username).await.expect("store answers").expect("user exists")
    }

    /// `POST /auth/login` with `body`; returns the JSON answer, whatever the status.
    pub async fn login_with(&self, body: Value) -> Value {
        self.post("/api/v1/auth/login", body).await.json().await.expect("json")
    }

    /// Registers a user and logs in; returns the credentials and an access token with every scope.
    pub async fn user(&self) -> (Creds, String) {
        let creds = self.register().await;
        let tokens = self.login(&creds).await;
        let token = tokens["access_token"].as_str().expect("access token").to_owned();
        (creds, token)
    }

    /// Object keys stored for `user_id` (a UUID string): in the object store and in the
    /// database (small bodies).
    pub async fn objects_of(&self, user_id: &str) -> Vec<String> {
        let user = Uuid::parse_str(user_id).expect("uuid");
        let mut keys = self.blobs.list(&blindvault::store::user_prefix(user)).await.expect("list objects");
        keys.extend(self.vault_store.small_object_keys(user).await.expect("small objects"));
        keys
    }

    /// Object keys in the object store only, for `user_id`.
    pub async fn bucket_objects_of(&self, user_id: &str) -> Vec<String> {
        let user = Uuid::parse_str(user_id).expect("uuid");
        self.blobs.list(&blindvault::store::user_prefix(user)).await.expect("list objects")
    }

    /// Logs in; returns the token response body.
    pub async fn login(&self, creds: &Creds) -> Value {
        let resp = self.post("/api/v1/auth/login", creds.login_body()).await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.expect("token json")
    }
}

async fn start(deployment: Deployment, args: Vec<String>, dir: Arc<tempfile::TempDir>) -> TestApp {
    let settings = Settings::from_args(&args).expect("test settings parse");
    let app = Application::build(settings, Migrations::Apply).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = Arc::clone(app.store());
    let blobs = app.blobs().clone();
    let vault_store = Arc::clone(app.vault_store());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    TestApp { address, store, blobs, vault_store, state, client, args, dir, deployment }
}

/// A user's credentials as a client would hold them.
#[derive(Debug, Clone)]
pub struct Creds {
    /// Username.
    pub username: String,
    /// H_auth.
    pub auth_hash: Vec<u8>,
    /// KDF salt.
    pub salt: Vec<u8>,
}

impl Creds {
    /// A random user.
    pub fn random() -> Self {
        Self {
            username: format!("user-{}", &Uuid::new_v4().simple().to_string()[..12]),
            auth_hash: rand_bytes(32),
            salt: rand_bytes(32),
        }
    }

    /// Body for `/auth/register`.
    pub fn register_body(&self) -> Value {
        json!({
            "username": self.username,
            "auth_hash": b64(&self.auth_hash),
            "salt": b64(&self.salt),
            "kdf": "pbkdf2-sha256",
            "iterations": 600000,
        })
    }

    /// Body for `/auth/login`.
    pub fn login_body(&self) -> Value {
        json!({"username": self.username, "auth_hash": b64(&self.auth_hash)})
    }
}

/// Standard padded base64.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// `n` random bytes.
pub fn rand_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

/// Asserts a problem+json response with `status` and `code`; returns the body.
pub async fn assert_problem(resp: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status, "unexpected status");
    let content_type =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(content_type, "application/problem+json");
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.expect("problem json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["type"], "about:blank");
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
    body
}

/// Runs each named `async fn(Deployment)` on both deployments as separate tests.
macro_rules! on_both_deployments {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Deployment::Embedded).await
                }
            )*
        }
        mod production {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(deployment) = $crate::helpers::Deployment::production() {
                        super::$name(deployment).await
                    }
                }
            )*
        }
    };
}
pub(crate) use on_both_deployments;
