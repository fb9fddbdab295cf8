//! One story through the metadata store's traits, on SQLite and on Postgres: an account, its
//! sessions and throttle, vaults through every commit outcome, an upload through its state
//! machine, the deletion queue, and the account's deletion. Both engines run the same SQL; this
//! proves they give the same answers to it.

use std::time::Duration;

use blindvault::domain::{ChangeKind, Precondition, Retention, Timestamp, Upload};
use blindvault::store::{
    Backend, ChangeOutcome, CreateOutcome, MetadataStore, NewRevision, PgPoolSettings, PgStore, Progress,
    Quota, SqliteStore, VaultStore, object_key,
};
use uuid::Uuid;

use crate::helpers::{Deployment, fresh_database, on_both_deployments};
use crate::store_accounts::{account, sessions, throttle};

on_both_deployments!(one_story_through_the_store);

const NO_QUOTA: Quota = Quota { bytes: None, vaults: None };
pub(crate) const PHC: &str =
    "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

async fn one_story_through_the_store(d: Deployment) {
    let dir = tempfile::tempdir().unwrap();
    match d {
        Deployment::Embedded => {
            let url = format!("sqlite://{}", dir.path().join("story.db").display());
            let store = SqliteStore::connect(&url, 4).await.unwrap();
            story(&store, Backend::Sqlite).await;
            let pool = store.pool().clone();
            older_binary_vault(&store, |user| async move {
                sqlx::query(OLD_INSERT)
                    .bind(user)
                    .bind(vec![1u8; 12])
                    .bind(Timestamp::now())
                    .execute(&pool)
                    .await
                    .unwrap();
            })
            .await;
        }
        Deployment::Production { admin_url, .. } => {
            let (url, _) = fresh_database(&admin_url).await;
            let settings = PgPoolSettings {
                max_connections: 4,
                max_lifetime: Duration::from_secs(60),
                acquire_timeout: Duration::from_secs(10),
            };
            let store = PgStore::connect(&url, &settings).unwrap();
            story(&store, Backend::Postgres).await;
            let pool = store.pool().clone();
            older_binary_vault(&store, |user| async move {
                sqlx::query(OLD_INSERT)
                    .bind(user)
                    .bind(vec![1u8; 12])
                    .bind(Timestamp::now())
                    .execute(&pool)
                    .await
                    .unwrap();
            })
            .await;
        }
    }
}

/// A vault as a binary from before the history migration inserts it: without a uid.
const OLD_INSERT: &str = "INSERT INTO vaults (user_id, vault_id, etag, revision, version, size, sha256, iv, salt, \
     created_at, updated_at) VALUES ($1, 'old', 'e0', 1, 1, 0, $2, $2, $2, $3, $3)";

/// After a rollback to a binary from before the history migration, the vaults it created read
/// back with a uid of their own (a Postgres default, an SQLite trigger) and have a history.
async fn older_binary_vault<S, F, Fut>(store: &S, insert: F)
where
    S: MetadataStore + VaultStore,
    F: FnOnce(Uuid) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let user = account(store, Timestamp::now()).await;
    insert(user).await;
    let vault = store.vault(user, "old").await.unwrap().expect("the old binary's vault reads back");
    assert!(!vault.uid.is_nil());
    let revisions = store.revisions(user, "old", None, 10).await.unwrap().unwrap();
    assert_eq!(revisions.iter().map(|v| v.revision).collect::<Vec<_>>(), [1]);
}

async fn story<S: MetadataStore + VaultStore>(store: &S, backend: Backend) {
    assert_eq!(store.backend(), backend);
    store.migrate().await.unwrap();
    assert!(store.pending_migrations().await.unwrap().is_empty());
    store.ping().await.unwrap();
    let secret = store.server_secret("jwt").await.unwrap();
    assert_eq!(secret.len(), 32);
    assert_eq!(store.server_secret("jwt").await.unwrap(), secret, "created once, then kept");
    assert_ne!(store.server_secret("other").await.unwrap(), secret);

    let now = Timestamp::from_unix_millis(1_800_000_000_123);
    let user = account(store, now).await;
    let session = sessions(store, user, now).await;
    throttle(store, now).await;
    vaults(store, user, now).await;
    uploads(store, user, now).await;

    let (keys, uploads) = store.delete_account(user, now).await.unwrap();
    assert_eq!(keys.len(), 2, "the vault left and the unfinished upload: {keys:?}");
    assert_eq!(uploads.len(), 1);
    assert!(store.user_by_id(user).await.unwrap().is_none());
    assert!(store.session(session).await.unwrap().is_none(), "sessions go with the account");
    let due = store.claim_expired_objects(now.plus(Duration::from_secs(1)), now, 100).await.unwrap();
    for key in &keys {
        assert!(due.contains(key), "{key} is due at once: {due:?}");
    }
}

fn revision(user: Uuid, id: &str, etag: &str, size: i64, now: Timestamp) -> NewRevision {
    NewRevision {
        user_id: user,
        vault_id: id.into(),
        etag: etag.into(),
        version: 1,
        size,
        sha256: vec![3; 32],
        iv: vec![1; 12],
        salt: vec![2; 16],
        now,
        old_object_delete_after: now.plus(Duration::from_secs(3600)),
        uid: Uuid::new_v4(),
        receipt: None,
        kind: ChangeKind::Replace,
        retention: Retention::NONE,
        inline: None,
    }
}

/// Queues the revision's object as an upload in progress, as a write does before committing.
async fn uploaded<S: VaultStore>(store: &S, rev: &NewRevision) {
    let abandon = rev.now.plus(Duration::from_secs(600));
    store.begin_upload(&object_key(rev.user_id, &rev.etag), rev.user_id, abandon).await.unwrap();
}

async fn vaults<S: VaultStore>(store: &S, user: Uuid, now: Timestamp) {
    let first = revision(user, "notes", "e1", 100, now);
    assert!(matches!(store.commit_create(&first, &NO_QUOTA).await.unwrap(), CreateOutcome::UploadLost));
    uploaded(store, &first).await;
    let CreateOutcome::Created(created) = store.commit_create(&first, &NO_QUOTA).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        (created.revision, created.etag.as_str(), created.size, created.created_at),
        (1, "e1", 100, now)
    );
    let twin = revision(user, "notes", "e1b", 100, now);
    uploaded(store, &twin).await;
    assert!(
        matches!(store.commit_create(&twin, &NO_QUOTA).await.unwrap(), CreateOutcome::Exists(v) if v.etag == "e1")
    );

    let later = now.plus(Duration::from_secs(5));
    let second = revision(user, "notes", "e2", 250, later);
    uploaded(store, &second).await;
    let stale = store.commit_replace(&second, &Precondition::Etag("e0".into()), &NO_QUOTA).await.unwrap();
    assert!(matches!(stale, ChangeOutcome::Mismatch(Some(ref e)) if e == "e1"), "{stale:?}");
    let tight = Quota { bytes: Some(200), vaults: None };
    assert!(matches!(
        store.commit_replace(&second, &Precondition::Etag("e1".into()), &tight).await.unwrap(),
        ChangeOutcome::OverQuota("bytes")
    ));
    let ChangeOutcome::Done(Some(replaced)) =
        store.commit_replace(&second, &Precondition::Etag("e1".into()), &NO_QUOTA).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (replaced.revision, replaced.size, replaced.created_at, replaced.updated_at),
        (2, 250, now, later)
    );
    assert_eq!(store.vault(user, "notes").await.unwrap(), Some(*replaced));
    let usage = store.usage(user).await.unwrap();
    assert_eq!((usage.bytes, usage.vaults), (250, 1));

    let other = revision(user, "keys", "k1", 10, now);
    uploaded(store, &other).await;
    let one_vault = Quota { bytes: None, vaults: Some(1) };
    assert!(matches!(
        store.commit_create(&other, &one_vault).await.unwrap(),
        CreateOutcome::OverQuota("vaults")
    ));
    assert!(store.vault(user, "keys").await.unwrap().is_none(), "nothing of an over-quota commit stays");
    uploaded(store, &other).await;
    assert!(matches!(store.commit_create(&other, &NO_QUOTA).await.unwrap(), CreateOutcome::Created(_)));
    let listed: Vec<String> =
        store.list_vaults(user, "", 10).await.unwrap().into_iter().map(|v| v.vault_id).collect();
    assert_eq!(listed, ["keys", "notes"]);
    assert_eq!(store.list_vaults(user, "keys", 10).await.unwrap().len(), 1);

    let delete_after = later.plus(Duration::from_secs(10));
    let refused = store
        .delete_vault(user, "keys", &Precondition::Etag("e1".into()), now, None, delete_after)
        .await
        .unwrap();
    assert!(matches!(refused, ChangeOutcome::Mismatch(Some(ref e)) if e == "k1"));
    assert!(matches!(
        store.delete_vault(user, "keys", &Precondition::Exists, now, None, delete_after).await.unwrap(),
        ChangeOutcome::Done(None)
    ));
    assert!(matches!(
        store.delete_vault(user, "keys", &Precondition::Exists, now, None, delete_after).await.unwrap(),
        ChangeOutcome::Mismatch(None)
    ));

    // The replaced and deleted objects wait out their grace period, then are leased once.
    let (old, deleted) = (object_key(user, "e1"), object_key(user, "k1"));
    assert!(!store.claim_expired_objects(later, later, 100).await.unwrap().contains(&deleted));
    let due = store
        .claim_expired_objects(delete_after, delete_after.plus(Duration::from_secs(30)), 100)
        .await
        .unwrap();
    assert!(due.contains(&deleted) && !due.contains(&old), "{due:?}");
    assert!(
        !store.claim_expired_objects(delete_after, delete_after, 100).await.unwrap().contains(&deleted),
        "leased"
    );
    store.forget_object(&deleted).await.unwrap();
    let past_grace = now.plus(Duration::from_secs(7200));
    assert!(store.claim_expired_objects(past_grace, past_grace, 100).await.unwrap().contains(&old));
}

async fn uploads<S: VaultStore>(store: &S, user: Uuid, now: Timestamp) {
    let upload = |etag: &str, length| Upload {
        id: Uuid::new_v4(),
        user_id: user,
        vault_id: format!("big-{etag}"),
        etag: etag.into(),
        iv: vec![1; 12],
        salt: vec![2; 16],
        version: 1,
        precondition: Precondition::Absent,
        upload_length: length,
        upload_offset: 0,
        multipart_id: Some("mp".into()),
        part_etags: String::new(),
        part_digests: Vec::new(),
        lease_owner: None,
        lease_until: None,
        expires_at: now.plus(Duration::from_secs(3600)),
        created_at: now,
    };
    let tight = Quota { bytes: Some(1000), vaults: None };
    assert_eq!(store.create_upload(&upload("u0", 2000), &tight).await.unwrap(), Err("bytes"));
    let (u, ended) = (upload("u1", 500), Upload { precondition: Precondition::Exists, ..upload("u2", 100) });
    store.create_upload(&u, &tight).await.unwrap().unwrap();
    store.create_upload(&ended, &NO_QUOTA).await.unwrap().unwrap();
    assert_eq!(store.upload(user, u.id).await.unwrap().as_ref(), Some(&u));
    assert_eq!(store.upload(user, ended.id).await.unwrap().as_ref(), Some(&ended), "its precondition too");
    assert!(store.upload(Uuid::new_v4(), u.id).await.unwrap().is_none(), "only its owner sees it");
    let usage = store.usage(user).await.unwrap();
    // Both reserve their length; only the create reserves a vault.
    assert_eq!((usage.reserved_bytes, usage.reserved_vaults), (600, 1));

    let (owner, rival) = (Uuid::new_v4(), Uuid::new_v4());
    let until = now.plus(Duration::from_secs(300));
    assert!(!store.lease_upload(u.id, 10, owner, now, until).await.unwrap(), "wrong offset");
    assert!(store.lease_upload(u.id, 0, owner, now, until).await.unwrap());
    assert!(!store.lease_upload(u.id, 0, rival, now, until).await.unwrap(), "held");
    assert!(store.renew_upload(u.id, owner, until).await.unwrap());
    assert!(!store.renew_upload(u.id, rival, until).await.unwrap());
    let progress =
        Progress { from_offset: 0, to_offset: 200, part_etags: "p1".into(), part_digests: vec![4; 32] };
    assert!(!store.advance_upload(u.id, rival, &progress).await.unwrap());
    assert!(store.advance_upload(u.id, owner, &progress).await.unwrap());
    assert!(!store.advance_upload(u.id, owner, &progress).await.unwrap(), "a compare-and-swap on the offset");
    let stored = store.upload(user, u.id).await.unwrap().unwrap();
    assert_eq!((stored.upload_offset, stored.part_etags.as_str(), stored.lease_owner), (200, "p1", None));
    assert!(store.lease_upload(u.id, 200, rival, now, until).await.unwrap());
    store.release_upload(u.id, rival).await.unwrap();
    assert!(store.lease_upload(u.id, 200, owner, now, until).await.unwrap(), "released");
    store.release_upload(u.id, owner).await.unwrap();

    assert_eq!(store.end_upload(Uuid::new_v4(), ended.id).await.unwrap(), None, "not its owner");
    assert_eq!(store.end_upload(user, ended.id).await.unwrap(), Some(true), "its storage is the caller's");
    assert_eq!(store.end_upload(user, ended.id).await.unwrap(), None);
    assert!(store.claim_expired_objects(now, now, 100).await.unwrap().contains(&object_key(user, "u2")));
    let expired = store.expired_uploads(now.plus(Duration::from_secs(3601)), 10).await.unwrap();
    assert_eq!(expired.iter().map(|e| e.id).collect::<Vec<_>>(), [u.id]);
    assert!(store.expired_uploads(now, 10).await.unwrap().is_empty());
}
