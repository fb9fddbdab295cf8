//! The quota rules on in-process stores (SQLite in memory, objects in memory): what an open
//! upload reserves and when it gives it back, the check inside the commit, and no new upload
//! for a deleted account. The concurrent versions run over HTTP in `tests/api/races.rs`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;

use super::{
    Changes, Chunk, NewUpload, Patched, ServiceError, UploadPrecondition, VaultLimits, VaultService,
    VaultTiming, VaultWrite, WriteMode,
};
use crate::domain::Timestamp;
use crate::domain::VaultId;
use crate::store::{
    BlobStore, Caches, CreateOutcome, MetadataStore, NewRevision, NewUser, Quota, SqliteStore, VaultStore,
};

const QUOTA: Quota = Quota { bytes: Some(100_000), vaults: Some(2) };

async fn setup(upload_timeout: Duration) -> (VaultService, Arc<SqliteStore>, Uuid) {
    let store = Arc::new(SqliteStore::connect("sqlite::memory:", 1).await.unwrap());
    store.migrate().await.unwrap();
    let user = Uuid::new_v4();
    let new_user = NewUser {
        id: user,
        username: format!("u{}", user.simple()),
        auth_phc: "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        kdf: "pbkdf2-sha256".into(),
        kdf_salt: vec![0; 16],
        kdf_iterations: 600_000,
        now: Timestamp::now(),
    };
    store.create_user(&new_user).await.unwrap();
    (service_over(&store, upload_timeout), store, user)
}

/// A vault service over `store` whose uploads are abandoned after `upload_timeout`.
fn service_over(store: &Arc<SqliteStore>, upload_timeout: Duration) -> VaultService {
    let limits = VaultLimits {
        max_json_bytes: 1 << 20,
        max_vault_bytes: 1 << 30,
        quota_bytes: QUOTA.bytes,
        quota_vaults: QUOTA.vaults,
    };
    let timing = VaultTiming { delete_grace: Duration::from_secs(60), upload_timeout };
    let changes = Arc::new(Changes::new(Arc::new(Caches::new(1 << 20)), store.clone()));
    VaultService::new(store.clone(), BlobStore::in_memory(), limits, timing, changes)
}

fn new_upload(user: Uuid, id: &str, length: u64) -> NewUpload {
    NewUpload {
        user,
        id: VaultId::parse(id).unwrap(),
        iv: vec![1; 12],
        salt: vec![2; 12],
        version: 1,
        precondition: UploadPrecondition::Absent,
        length,
    }
}

async fn put(service: &VaultService, user: Uuid, id: &str, len: usize) -> Result<(), ServiceError> {
    let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(vec![7u8; len]))]);
    let write = VaultWrite {
        user,
        id: VaultId::parse(id).unwrap(),
        mode: WriteMode::CreateOnly,
        iv: vec![1; 12],
        salt: vec![2; 12],
        version: 1,
        body,
        declared_len: Some(len as u64),
        inline: false,
    };
    service.write(write).await.map(|_| ())
}

fn over(result: Result<impl std::fmt::Debug, ServiceError>) -> &'static str {
    match result {
        Err(ServiceError::QuotaExceeded { what }) => what,
        other => panic!("expected quota_exceeded, got {other:?}"),
    }
}

#[tokio::test]
async fn an_open_upload_reserves_its_length_until_it_ends() {
    let (service, _, user) = setup(Duration::from_secs(3600)).await;
    let big = service.create_upload(new_upload(user, "big", 90_000)).await.unwrap();
    assert_eq!(over(service.create_upload(new_upload(user, "more", 20_000)).await), "bytes");
    assert_eq!(over(put(&service, user, "small", 20_000).await), "bytes");
    put(&service, user, "smaller", 10_000).await.unwrap();
    // Both vaults of the quota are now taken: the open upload's and the written one.
    assert_eq!(over(service.create_upload(new_upload(user, "tiny", 1)).await), "vaults");

    // The reservation ends with the upload, and the bytes it held are free again.
    service.delete_upload(user, big.id).await.unwrap();
    let again = service.create_upload(new_upload(user, "again", 90_000)).await.unwrap();
    let chunk = Chunk {
        offset: 0,
        sha256: None,
        body: futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 90_000]))]),
    };
    assert!(matches!(service.patch_upload(user, again.id, chunk).await.unwrap(), Patched::Committed(_)));
    // Committed, it counts as a vault, no longer as a reservation: exactly at the limits.
    assert_eq!(over(put(&service, user, "one-more", 1).await), "vaults");
}

#[tokio::test]
async fn an_expired_upload_reserves_nothing() {
    let (service, store, user) = setup(Duration::from_secs(3600)).await;
    let hasty = service_over(&store, Duration::from_millis(1));
    hasty.create_upload(new_upload(user, "stale", 90_000)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    put(&service, user, "fresh", 90_000).await.unwrap();
}

#[tokio::test]
async fn the_commit_checks_the_quota_in_its_transaction() {
    // Two writes that each passed the early check: the second commit finds the first.
    let (_, store, user) = setup(Duration::from_secs(3600)).await;
    let now = Timestamp::now();
    let revision = |vault: &str| NewRevision {
        user_id: user,
        vault_id: vault.into(),
        etag: Uuid::new_v4().simple().to_string(),
        version: 1,
        size: 60_000,
        sha256: vec![0; 32],
        iv: vec![1; 12],
        salt: vec![2; 12],
        now,
        old_object_delete_after: now,
    };
    let (first, second) = (revision("a"), revision("b"));
    for rev in [&first, &second] {
        let key = crate::store::object_key(user, &rev.etag);
        store.begin_upload(&key, user, now.plus(Duration::from_secs(60))).await.unwrap();
    }
    assert!(matches!(store.commit_create(&first, &QUOTA).await.unwrap(), CreateOutcome::Created(_)));
    assert!(matches!(store.commit_create(&second, &QUOTA).await.unwrap(), CreateOutcome::OverQuota("bytes")));
    assert_eq!(store.vault(user, "b").await.unwrap(), None, "nothing of the refused commit stays");
    assert_eq!(store.usage(user).await.unwrap().bytes, 60_000);
}

#[tokio::test]
async fn a_deleted_account_starts_no_upload_and_commits_nothing() {
    let (service, store, user) = setup(Duration::from_secs(3600)).await;
    service.delete_account(user).await.unwrap();
    let refused = service.create_upload(new_upload(user, "late", 10)).await;
    assert!(matches!(refused, Err(ServiceError::TokenRevoked)), "{refused:?}");
    assert!(matches!(put(&service, user, "late", 10).await, Err(ServiceError::TokenRevoked)));
    assert_eq!(store.usage(user).await.unwrap(), Default::default());
}
