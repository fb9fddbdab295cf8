//! Fixtures shared by the service's unit tests: in-process stores (SQLite in memory, objects
//! in memory), a user to own vaults, and short builders for writes, uploads and chunks.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use uuid::Uuid;

use super::{
    AuthPolicy, AuthService, Changes, Chunk, FactorKeys, HashCost, LoginThrottle, NewUpload, PasswordHasher,
    RegistrationMode, SecretsKey, ServiceError, SweepPolicy, Sweeper, ThrottlePolicy, TokenIssuer,
    VaultLimits, VaultService, VaultTiming, VaultWrite, Written,
};
use crate::domain::{Precondition, Retention, Timestamp, Vault, VaultId};
use crate::store::{BlobStore, Caches, MetadataStore, NewUser, Quota, SqliteStore, VaultStore};

/// The quota most tests run under.
pub const QUOTA: Quota = Quota { bytes: Some(100_000), vaults: Some(2) };
/// How long a replaced or deleted object waits before the sweeper may take it.
pub const GRACE: Duration = Duration::from_secs(60);
/// An upload timeout no test reaches.
pub const HOUR: Duration = Duration::from_secs(3600);
/// How long deleted vaults stay in the fixtures' trash.
pub const TRASH_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// A fresh, migrated SQLite database in memory (one connection, so one database).
pub async fn sqlite() -> Arc<SqliteStore> {
    let store = Arc::new(SqliteStore::connect("sqlite::memory:", 1).await.unwrap());
    store.migrate().await.unwrap();
    store
}

/// A user in `store`, inserted directly (no Argon2 work), who can own vaults.
pub async fn add_user(store: &SqliteStore) -> Uuid {
    let user = Uuid::new_v4();
    let new_user = NewUser {
        id: user,
        username: format!("u{}", user.simple()),
        auth_phc: "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        kdf: "pbkdf2-sha256".into(),
        kdf_salt: vec![0; 16],
        kdf_iterations: 600_000,
        now: Timestamp::now(),
        invite: None,
    };
    store.create_user(&new_user).await.unwrap();
    user
}

/// The limits of most tests: `QUOTA`, 1 MiB inline and 1 GiB per vault.
pub fn limits() -> VaultLimits {
    VaultLimits {
        max_json_bytes: 1 << 20,
        max_vault_bytes: 1 << 30,
        inline_bytes: 16 * 1024,
        quota_bytes: QUOTA.bytes,
        quota_vaults: QUOTA.vaults,
    }
}

/// A vault service over `store` and `blobs`.
pub fn service_with(
    store: &Arc<SqliteStore>,
    blobs: &BlobStore,
    limits: VaultLimits,
    upload_timeout: Duration,
) -> VaultService {
    let timing = VaultTiming {
        delete_grace: GRACE,
        upload_timeout,
        retention: Retention::NONE,
        trash_for: Duration::ZERO,
        direct_url_ttl: None,
    };
    service_timed(store, blobs, limits, timing)
}

/// A vault service over `store` and `blobs` with `timing`.
pub fn service_timed(
    store: &Arc<SqliteStore>,
    blobs: &BlobStore,
    limits: VaultLimits,
    timing: VaultTiming,
) -> VaultService {
    let changes = Arc::new(Changes::new(Arc::new(Caches::new(1 << 20)), store.clone()));
    VaultService::new(store.clone(), blobs.clone(), limits, timing, changes)
}

/// A vault service over `store` with its own objects in memory and the usual limits.
pub fn service_over(store: &Arc<SqliteStore>, upload_timeout: Duration) -> VaultService {
    service_with(store, &BlobStore::in_memory(), limits(), upload_timeout)
}

/// One user's vaults on fresh in-process stores; `blobs` is the service's object store.
pub struct Fixture {
    /// The service under test.
    pub service: VaultService,
    /// Its metadata.
    pub store: Arc<SqliteStore>,
    /// Its objects.
    pub blobs: BlobStore,
    /// The user whose vaults the test writes.
    pub user: Uuid,
    /// How long earlier revisions out of their count window are kept.
    pub keep_for: Duration,
}

impl Fixture {
    /// A fixture with `limits` and uploads abandoned after `upload_timeout`.
    pub async fn new(limits: VaultLimits, upload_timeout: Duration) -> Self {
        let store = sqlite().await;
        let user = add_user(&store).await;
        let blobs = BlobStore::in_memory();
        let service = service_with(&store, &blobs, limits, upload_timeout);
        Self { service, store, blobs, user, keep_for: Duration::ZERO }
    }

    /// A fixture with the usual limits that keeps history by `retention` and deleted vaults
    /// in the trash for [`TRASH_FOR`].
    pub async fn with_history(retention: Retention) -> Self {
        let store = sqlite().await;
        let user = add_user(&store).await;
        let blobs = BlobStore::in_memory();
        let timing = VaultTiming {
            delete_grace: GRACE,
            upload_timeout: HOUR,
            retention,
            trash_for: TRASH_FOR,
            direct_url_ttl: None,
        };
        let service = service_timed(&store, &blobs, limits(), timing);
        Self { service, store, blobs, user, keep_for: retention.keep_for }
    }

    /// A sweeper over the fixture's stores, with its retention and [`GRACE`].
    pub fn sweeper(&self) -> Sweeper {
        let policy = SweepPolicy { keep_for: self.keep_for, delete_grace: GRACE, changes_for: TRASH_FOR };
        Sweeper::new(self.store.clone(), self.blobs.clone(), policy)
    }

    /// A fixture with the usual limits.
    pub async fn standard() -> Self {
        Self::new(limits(), HOUR).await
    }

    /// Writes `body` to vault `id` in `mode` as a streamed PUT with its length declared.
    pub async fn put(&self, id: &str, mode: Precondition, body: &[u8]) -> Result<Written, ServiceError> {
        self.service.write(write(self.user, id, mode, body)).await
    }

    /// The vault as stored, bypassing every cache.
    pub async fn stored(&self, id: &str) -> Option<Vault> {
        self.store.vault(self.user, id).await.unwrap()
    }

    /// The whole ciphertext of `vault`, read through the service.
    pub async fn read(&self, vault: &Vault) -> Vec<u8> {
        let parts: Vec<Bytes> =
            self.service.bytes(vault, None).await.unwrap().into_stream().try_collect().await.unwrap();
        parts.concat()
    }

    /// The object keys queued for deletion by `at` (and still queued: this leases them for a
    /// second, as the sweeper would).
    pub async fn queued(&self, at: Timestamp) -> Vec<String> {
        let lease = at.plus(Duration::from_secs(1));
        let mut keys = self.store.claim_expired_objects(at, lease, 100).await.unwrap();
        keys.sort();
        keys
    }

    /// What the user holds, as the store counts it.
    pub async fn store_usage(&self) -> crate::store::Usage {
        self.store.usage(self.user).await.unwrap()
    }

    /// The keys of this user's objects at rest: in the object store and, for small bodies, in
    /// the database.
    pub async fn objects(&self) -> Vec<String> {
        let mut keys = self.blobs.list(&crate::store::user_prefix(self.user)).await.unwrap();
        keys.extend(
            crate::store::SmallObjectStore::small_object_keys(&*self.store, self.user).await.unwrap(),
        );
        keys.sort();
        keys
    }
}

/// A valid vault id.
pub fn id(name: &str) -> VaultId {
    VaultId::parse(name).unwrap()
}

/// `If-Match: "<etag>"`.
pub fn if_match(etag: &str) -> Precondition {
    Precondition::Etag(etag.to_owned())
}

/// Just past the grace period of anything written from now on.
pub fn after_grace() -> Timestamp {
    Timestamp::now().plus(GRACE + Duration::from_secs(1))
}

/// A streamed body of one chunk.
pub fn body(bytes: &[u8]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::iter([Ok(Bytes::copy_from_slice(bytes))])
}

/// A streamed, non-inline write of `bytes` with its length declared.
pub fn write(
    user: Uuid,
    id: &str,
    mode: Precondition,
    bytes: &[u8],
) -> VaultWrite<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    VaultWrite {
        user,
        id: VaultId::parse(id).unwrap(),
        precondition: mode,
        iv: vec![1; 12],
        salt: vec![2; 12],
        version: 1,
        body: body(bytes),
        declared_len: Some(bytes.len() as u64),
        inline: false,
    }
}

/// An upload of `length` bytes to a vault that must not exist yet.
pub fn new_upload(user: Uuid, id: &str, length: u64) -> NewUpload {
    NewUpload {
        user,
        id: VaultId::parse(id).unwrap(),
        iv: vec![1; 12],
        salt: vec![2; 12],
        version: 1,
        precondition: Precondition::Absent,
        length,
    }
}

/// A PATCH body of `bytes` at `offset`, without a checksum.
pub fn chunk(
    offset: u64,
    bytes: &[u8],
) -> Chunk<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    Chunk { offset, sha256: None, body: body(bytes) }
}

/// What ran out, when `result` is `quota_exceeded`; panics otherwise.
pub fn over(result: Result<impl std::fmt::Debug, ServiceError>) -> &'static str {
    match result {
        Err(ServiceError::QuotaExceeded { what }) => what,
        other => panic!("expected quota_exceeded, got {other:?}"),
    }
}

/// The current etag a `precondition_failed` names; panics on anything else.
pub fn precondition_failed(result: Result<impl std::fmt::Debug, ServiceError>) -> Option<String> {
    match result {
        Err(ServiceError::PreconditionFailed { current }) => current,
        other => panic!("expected precondition_failed, got {other:?}"),
    }
}

/// The signing secret of [`auth_service`]'s tokens.
pub const TOKEN_SECRET: [u8; 32] = [9; 32];
/// The access-token lifetime of [`auth_service`].
pub const ACCESS_TTL: Duration = Duration::from_secs(300);

/// Argon2id as cheap as it goes, for tests that log in.
pub const CHEAP_HASH: HashCost = HashCost { m_kib: 64, t: 1, p: 1 };

/// An auth service over `store`: open registration, cheap hashing, generous throttling,
/// tokens signed with [`TOKEN_SECRET`] for [`ACCESS_TTL`], sessions that last `refresh_ttl`.
pub async fn auth_service(store: &Arc<SqliteStore>, refresh_ttl: Duration) -> AuthService {
    let policy = ThrottlePolicy { per_account: 100, per_address: 100, window: Duration::from_secs(60) };
    auth_service_with(store, refresh_ttl, policy, RegistrationMode::Open).await
}

/// [`auth_service`] with another throttle and registration mode.
pub async fn auth_service_with(
    store: &Arc<SqliteStore>,
    refresh_ttl: Duration,
    policy: ThrottlePolicy,
    registration: RegistrationMode,
) -> AuthService {
    let hasher = Arc::new(PasswordHasher::new(CHEAP_HASH, 2, 16).unwrap());
    let tokens = TokenIssuer::new(&TOKEN_SECRET, ACCESS_TTL);
    let auth_policy = AuthPolicy {
        registration,
        issuer: "blindvault (test)".into(),
        min_kdf_iterations: 1000,
        refresh_ttl,
    };
    let changes = Arc::new(Changes::new(Arc::new(Caches::new(1 << 20)), store.clone()));
    let throttle = LoginThrottle::new(store.clone(), policy);
    AuthService::new(store.clone(), hasher, tokens, throttle, auth_policy, changes, factor_keys())
        .await
        .unwrap()
}

/// The secrets key of [`auth_service`].
pub const SECRETS_KEY: [u8; 32] = [5; 32];

/// Second-factor keys for tests: [`SECRETS_KEY`], and a WebAuthn relying party on localhost.
pub fn factor_keys() -> FactorKeys {
    let origin = url::Url::parse("http://localhost:8080").unwrap();
    let webauthn = webauthn_rs::WebauthnBuilder::new("localhost", &origin).unwrap().build().unwrap();
    FactorKeys { secrets: SecretsKey::new(&SECRETS_KEY), webauthn: Arc::new(webauthn) }
}
