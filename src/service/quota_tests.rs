//! The quota and size rules on in-process stores (SQLite in memory, objects in memory): byte
//! and vault-count limits at and one past the limit, a replace counting the difference, a
//! delete freeing, oversized bodies refused with nothing stored; what an open upload reserves
//! and when it gives it back, the check inside the commit, and no new upload for a deleted
//! account. The concurrent versions run over HTTP in `tests/api/races.rs`.

use std::time::Duration;

use uuid::Uuid;

use super::test_support::{Fixture, HOUR, QUOTA, chunk, limits, new_upload, over, service_over, write};
use super::{Patched, ServiceError, VaultLimits};
use crate::domain::{Precondition, Timestamp, VaultId};
use crate::store::{CreateOutcome, NewRevision, Usage, VaultStore};

fn too_large(result: Result<impl std::fmt::Debug, ServiceError>) -> u64 {
    match result {
        Err(ServiceError::TooLarge { limit }) => limit,
        other => panic!("expected payload_too_large, got {other:?}"),
    }
}

const ANY: Precondition = Precondition::Exists;

fn usage(bytes: i64, vaults: i64) -> Usage {
    Usage { bytes, vaults, ..Usage::default() }
}

#[tokio::test]
async fn bytes_fit_exactly_up_to_the_quota_and_not_one_more() {
    let f = Fixture::new(VaultLimits { quota_vaults: None, ..limits() }, HOUR).await;
    f.put("a", Precondition::Absent, &[1; 60_000]).await.unwrap();
    assert_eq!(over(f.put("b", Precondition::Absent, &[2; 40_001]).await), "bytes", "declared");
    // Without a declared length the stream is cut at the room left.
    let mut undeclared = write(f.user, "b", Precondition::Absent, &[2; 40_001]);
    undeclared.declared_len = None;
    assert_eq!(over(f.service.write(undeclared).await), "bytes", "streamed");
    assert_eq!(f.stored("b").await, None);
    assert_eq!(f.objects().await.len(), 1, "the refused bodies are not kept");

    f.put("b", Precondition::Absent, &[2; 40_000]).await.unwrap();
    assert_eq!(f.store.usage(f.user).await.unwrap(), usage(100_000, 2));
    assert_eq!(over(f.put("c", Precondition::Absent, &[3]).await), "bytes");
    assert_eq!(over(f.service.create_upload(new_upload(f.user, "c", 1)).await), "bytes");
}

#[tokio::test]
async fn a_replace_counts_the_difference_not_the_sum() {
    let f = Fixture::standard().await;
    f.put("a", Precondition::Absent, &[1; 60_000]).await.unwrap();
    // 60 000 + 100 000 would be over; the new revision takes the old one's place.
    let grown = f.put("a", ANY, &[2; 100_000]).await.unwrap().vault;
    assert_eq!(f.store.usage(f.user).await.unwrap(), usage(100_000, 1));
    assert_eq!(over(f.put("a", ANY, &[3; 100_001]).await), "bytes");
    assert_eq!(f.stored("a").await.unwrap(), grown, "a refused replace changes nothing");

    f.put("a", ANY, &[4; 60_000]).await.unwrap();
    f.put("b", Precondition::Absent, &[5; 30_000]).await.unwrap();
    assert_eq!(over(f.put("a", ANY, &[6; 70_001]).await), "bytes");
    f.put("a", ANY, &[6; 70_000]).await.unwrap();
    assert_eq!(f.store.usage(f.user).await.unwrap(), usage(100_000, 2));
}

#[tokio::test]
async fn the_vault_count_is_exact_and_a_replace_adds_none() {
    let f = Fixture::standard().await;
    f.put("a", Precondition::Absent, &[1; 10]).await.unwrap();
    f.put("b", Precondition::AbsentOrSame, &[2; 10]).await.unwrap();
    assert_eq!(over(f.put("c", Precondition::Absent, &[3; 10]).await), "vaults");
    assert_eq!(over(f.put("c", Precondition::AbsentOrSame, &[3; 10]).await), "vaults");
    assert_eq!(over(f.service.create_upload(new_upload(f.user, "c", 10)).await), "vaults");
    // At the limit, existing vaults can still be replaced (and re-created identically).
    f.put("a", ANY, &[4; 20]).await.unwrap();
    let same = f.put("b", Precondition::AbsentOrSame, &[2; 10]).await.unwrap();
    assert!(!same.created);
    assert_eq!(f.store.usage(f.user).await.unwrap(), usage(30, 2));
}

#[tokio::test]
async fn deleting_frees_bytes_and_a_vault() {
    let f = Fixture::standard().await;
    f.put("a", Precondition::Absent, &[1; 100_000]).await.unwrap();
    f.put("b", Precondition::Absent, &[]).await.unwrap();
    assert_eq!(over(f.put("c", Precondition::Absent, &[]).await), "vaults");
    assert_eq!(over(f.put("b", ANY, &[2]).await), "bytes");

    f.service.delete(f.user, &VaultId::parse("a").unwrap(), &Precondition::Exists).await.unwrap();
    assert_eq!(f.store.usage(f.user).await.unwrap(), usage(0, 1));
    f.put("c", Precondition::Absent, &[3; 100_000]).await.unwrap();
    assert_eq!(f.store.usage(f.user).await.unwrap(), usage(100_000, 2));
}

#[tokio::test]
async fn an_oversized_body_is_refused_and_nothing_is_stored() {
    let small = VaultLimits {
        max_json_bytes: 100,
        max_vault_bytes: 1000,
        inline_bytes: 0,
        quota_bytes: None,
        quota_vaults: None,
    };
    let f = Fixture::new(small, HOUR).await;
    assert_eq!(too_large(f.put("a", Precondition::Absent, &[1; 1001]).await), 1000);
    for declared_len in [None, Some(10)] {
        let mut lying = write(f.user, "a", Precondition::Absent, &[1; 1001]);
        lying.declared_len = declared_len;
        assert_eq!(too_large(f.service.write(lying).await), 1000, "declared {declared_len:?}");
    }
    let mut inline = write(f.user, "a", Precondition::Absent, &[1; 101]);
    inline.inline = true;
    assert_eq!(too_large(f.service.write(inline).await), 100);
    assert_eq!(too_large(f.service.create_upload(new_upload(f.user, "a", 1001)).await), 1000);

    assert_eq!(f.stored("a").await, None);
    assert_eq!(f.store.usage(f.user).await.unwrap(), Usage::default());
    assert!(f.objects().await.is_empty(), "no object at rest");
    assert!(f.queued(Timestamp::now().plus(HOUR * 24)).await.is_empty(), "nothing left for the sweeper");

    // Exactly at each limit fits.
    let mut inline = write(f.user, "b", Precondition::Absent, &[1; 100]);
    inline.inline = true;
    assert_eq!(f.service.write(inline).await.unwrap().vault.size, 100);
    assert_eq!(f.put("a", Precondition::Absent, &[1; 1000]).await.unwrap().vault.size, 1000);
}

#[tokio::test]
async fn an_open_upload_reserves_its_length_until_it_ends() {
    let f = Fixture::standard().await;
    let (service, user) = (&f.service, f.user);
    let big = service.create_upload(new_upload(user, "big", 90_000)).await.unwrap();
    assert_eq!(over(service.create_upload(new_upload(user, "more", 20_000)).await), "bytes");
    assert_eq!(over(f.put("small", Precondition::Absent, &[7; 20_000]).await), "bytes");
    f.put("smaller", Precondition::Absent, &[7; 10_000]).await.unwrap();
    // Both vaults of the quota are now taken: the open upload's and the written one.
    assert_eq!(over(service.create_upload(new_upload(user, "tiny", 1)).await), "vaults");

    // The reservation ends with the upload, and the bytes it held are free again.
    service.delete_upload(user, big.id).await.unwrap();
    let again = service.create_upload(new_upload(user, "again", 90_000)).await.unwrap();
    let done = service.patch_upload(user, again.id, chunk(0, &[1; 90_000])).await.unwrap();
    assert!(matches!(done, Patched::Committed(_)));
    // Committed, it counts as a vault, no longer as a reservation: exactly at the limits.
    assert_eq!(over(f.put("one-more", Precondition::Absent, &[7]).await), "vaults");
}

#[tokio::test]
async fn an_expired_upload_reserves_nothing() {
    let f = Fixture::standard().await;
    let hasty = service_over(&f.store, Duration::from_millis(1));
    hasty.create_upload(new_upload(f.user, "stale", 90_000)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    f.put("fresh", Precondition::Absent, &[7; 90_000]).await.unwrap();
}

#[tokio::test]
async fn the_commit_checks_the_quota_in_its_transaction() {
    // Two writes that each passed the early check: the second commit finds the first.
    let Fixture { store, user, .. } = Fixture::standard().await;
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
        uid: Uuid::new_v4(),
        receipt: None,
        kind: crate::domain::ChangeKind::Create,
        retention: crate::domain::Retention::NONE,
        inline: None,
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
    let f = Fixture::standard().await;
    f.service.delete_account(f.user).await.unwrap();
    let refused = f.service.create_upload(new_upload(f.user, "late", 10)).await;
    assert!(matches!(refused, Err(ServiceError::TokenRevoked)), "{refused:?}");
    let late = f.put("late", Precondition::Absent, &[7; 10]).await;
    assert!(matches!(late, Err(ServiceError::TokenRevoked)), "{late:?}");
    assert_eq!(f.store.usage(f.user).await.unwrap(), Default::default());
}
