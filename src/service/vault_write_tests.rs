//! Every commit outcome of a vault write and delete on in-process stores: create when absent
//! and when present (`If-None-Match: *` and `POST`), replace with a matching, a stale and an
//! unconditional precondition, delete with and without a matching etag, and what each leaves
//! at rest: the replaced or deleted object queued for the sweeper after the grace period, and
//! no object of a refused write.

use super::ServiceError;
use super::test_support::{Fixture, GRACE, after_grace, id, if_match, precondition_failed};
use crate::domain::{Precondition, Timestamp};
use crate::store::object_key;

#[tokio::test]
async fn a_create_when_absent_stores_revision_one() {
    let f = Fixture::standard().await;
    let written = f.put("notes", Precondition::Absent, b"ciphertext").await.unwrap();
    assert!(written.created);
    let vault = written.vault;
    assert_eq!((vault.revision, vault.size, vault.version), (1, 10, 1));
    assert_eq!(vault.etag.len(), 32, "128 random bits in hex: {}", vault.etag);
    assert_eq!(f.service.get(f.user, &id("notes")).await.unwrap(), vault);
    assert_eq!(f.stored("notes").await.unwrap(), vault);
    assert_eq!(f.read(&vault).await, b"ciphertext");
    assert_eq!(f.objects().await, [object_key(f.user, &vault.etag)]);
}

#[tokio::test]
async fn a_create_when_present_fails_with_the_current_etag() {
    let f = Fixture::standard().await;
    let first = f.put("notes", Precondition::Absent, b"first").await.unwrap().vault;
    let refused = f.put("notes", Precondition::Absent, b"second").await;
    assert_eq!(precondition_failed(refused), Some(first.etag.clone()));
    // `POST`: other content is `vault_exists`; the same content again is the same vault.
    let other = f.put("notes", Precondition::AbsentOrSame, b"second").await;
    assert!(matches!(other, Err(ServiceError::VaultExists)), "{other:?}");
    let again = f.put("notes", Precondition::AbsentOrSame, b"first").await.unwrap();
    assert!(!again.created);
    assert_eq!(again.vault, first);

    assert_eq!(f.stored("notes").await.unwrap(), first);
    assert_eq!(f.read(&first).await, b"first");
    assert_eq!(f.objects().await, [object_key(f.user, &first.etag)], "no refused body is kept");
}

#[tokio::test]
async fn a_replace_with_the_matching_etag_makes_the_next_revision() {
    let f = Fixture::standard().await;
    let first = f.put("notes", Precondition::Absent, b"first").await.unwrap().vault;
    let written = f.put("notes", if_match(&first.etag), b"second!").await.unwrap();
    assert!(!written.created);
    let second = written.vault;
    assert_eq!((second.revision, second.size), (2, 7));
    assert_ne!(second.etag, first.etag);
    assert_eq!(second.created_at, first.created_at);
    assert!(second.updated_at >= first.updated_at);
    // The cached revision is replaced too.
    assert_eq!(f.service.get(f.user, &id("notes")).await.unwrap(), second);
    assert_eq!(f.read(&second).await, b"second!");
    let third = f.put("notes", if_match(&second.etag), b"third").await.unwrap().vault;
    assert_eq!(third.revision, 3);
}

#[tokio::test]
async fn a_replace_with_a_stale_etag_changes_nothing() {
    let f = Fixture::standard().await;
    let first = f.put("notes", Precondition::Absent, b"first").await.unwrap().vault;
    let second = f.put("notes", if_match(&first.etag), b"second").await.unwrap().vault;
    let stale = f.put("notes", if_match(&first.etag), b"third").await;
    assert_eq!(precondition_failed(stale), Some(second.etag.clone()));

    let now = f.service.get(f.user, &id("notes")).await.unwrap();
    assert_eq!(now, second, "same revision, etag, size and envelope");
    assert_eq!(f.stored("notes").await.unwrap(), second);
    assert_eq!(f.read(&now).await, b"second");
    let mut at_rest = vec![object_key(f.user, &first.etag), object_key(f.user, &second.etag)];
    at_rest.sort();
    assert_eq!(f.objects().await, at_rest, "the old object waits for its grace; the refused body is gone");
}

#[tokio::test]
async fn an_unconditional_replace_needs_a_vault_to_replace() {
    let f = Fixture::standard().await;
    let absent = f.put("notes", Precondition::Exists, b"x").await;
    assert_eq!(precondition_failed(absent), None);
    assert_eq!(f.stored("notes").await, None);
    assert!(f.objects().await.is_empty());

    let first = f.put("notes", Precondition::Absent, b"first").await.unwrap().vault;
    let second = f.put("notes", Precondition::Exists, b"second").await.unwrap().vault;
    assert_eq!(second.revision, first.revision + 1);
    assert_eq!(f.read(&second).await, b"second");
}

#[tokio::test]
async fn a_delete_needs_the_matching_etag_and_then_the_vault_is_gone() {
    let f = Fixture::standard().await;
    let first = f.put("notes", Precondition::Absent, b"first").await.unwrap().vault;
    let second = f.put("notes", if_match(&first.etag), b"second").await.unwrap().vault;
    let stale = f.service.delete(f.user, &id("notes"), &Precondition::Etag(first.etag.clone())).await;
    assert_eq!(precondition_failed(stale), Some(second.etag.clone()));
    assert_eq!(f.service.get(f.user, &id("notes")).await.unwrap(), second, "still there");

    f.service.delete(f.user, &id("notes"), &Precondition::Etag(second.etag.clone())).await.unwrap();
    assert!(matches!(f.service.get(f.user, &id("notes")).await, Err(ServiceError::NotFound)));
    assert_eq!(f.stored("notes").await, None);
    for expect in [Precondition::Exists, Precondition::Etag(second.etag.clone())] {
        let again = f.service.delete(f.user, &id("notes"), &expect).await;
        assert!(matches!(again, Err(ServiceError::NotFound)), "{expect:?}: {again:?}");
    }
    // The id is free again, from revision 1.
    let reborn = f.put("notes", Precondition::Absent, b"new").await.unwrap().vault;
    assert_eq!(reborn.revision, 1);
}

#[tokio::test]
async fn a_delete_without_an_etag_takes_any_revision() {
    let f = Fixture::standard().await;
    f.put("notes", Precondition::Absent, b"first").await.unwrap();
    f.service.delete(f.user, &id("notes"), &Precondition::Exists).await.unwrap();
    assert!(matches!(f.service.get(f.user, &id("notes")).await, Err(ServiceError::NotFound)));
    assert!(matches!(
        f.service.delete(f.user, &id("other"), &Precondition::Exists).await,
        Err(ServiceError::NotFound)
    ));
}

#[tokio::test]
async fn a_replaced_object_is_swept_only_after_the_grace_period() {
    let f = Fixture::standard().await;
    let first = f.put("notes", Precondition::Absent, b"first").await.unwrap().vault;
    let second = f.put("notes", if_match(&first.etag), b"second").await.unwrap().vault;
    assert!(f.queued(Timestamp::now()).await.is_empty(), "readers may still stream it");
    // A reader holding the old revision can still read it within the grace period.
    assert_eq!(f.read(&first).await, b"first");
    assert_eq!(f.queued(after_grace()).await, [object_key(f.user, &first.etag)], "only the old object");

    let report = f.sweeper().sweep(after_grace().plus(GRACE)).await.unwrap();
    assert_eq!((report.deleted, report.failed), (1, 0));
    assert_eq!(f.objects().await, [object_key(f.user, &second.etag)]);
    assert_eq!(f.read(&second).await, b"second");
    // Stale metadata after the sweep: the reader is asked to retry, not given an error page.
    let stale = f.service.open(&first, None).await;
    assert!(matches!(stale, Err(ServiceError::Unavailable(_))), "{:?}", stale.map(|r| r.size));
}

#[tokio::test]
async fn a_deleted_vault_object_is_queued_and_swept() {
    let f = Fixture::standard().await;
    let vault = f.put("notes", Precondition::Absent, b"first").await.unwrap().vault;
    f.service.delete(f.user, &id("notes"), &Precondition::Exists).await.unwrap();
    assert!(f.queued(Timestamp::now()).await.is_empty());
    assert_eq!(f.objects().await, [object_key(f.user, &vault.etag)], "kept for its grace period");
    let report = f.sweeper().sweep(after_grace()).await.unwrap();
    assert_eq!(report.deleted, 1);
    assert!(f.objects().await.is_empty());
}

#[tokio::test]
async fn a_malformed_envelope_is_refused_before_anything_is_stored() {
    let f = Fixture::standard().await;
    // (field, iv length, salt length, version): one of them out of range each time.
    let cases = [("iv", 7, 12, 1), ("iv", 0, 12, 1), ("salt", 12, 65, 1), ("version", 12, 12, 0)];
    for (field, iv, salt, version) in cases {
        let mut w = super::test_support::write(f.user, "notes", Precondition::Absent, b"x");
        (w.iv, w.salt, w.version) = (vec![1; iv], vec![2; salt], version);
        match f.service.write(w).await {
            Err(ServiceError::InvalidField { field: got, .. }) => assert_eq!(got, field),
            other => panic!("expected invalid_field {field}, got {other:?}"),
        }
    }
    assert_eq!(f.stored("notes").await, None);
    assert!(f.objects().await.is_empty());
}
