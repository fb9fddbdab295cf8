//! The resumable-upload (tus) state machine on in-process stores: a new upload at offset 0,
//! PATCHes at the wrong offset or past the length refused with the offset unchanged, partial
//! PATCHes advancing, the final PATCH committing the vault, what a PATCH after the commit or
//! after a DELETE or past the upload timeout answers, checksums and broken bodies, and the
//! upload's precondition checked again at the commit.

use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::test_support::{Fixture, HOUR, add_user, chunk, limits, new_upload, precondition_failed};
use super::{Chunk, Patched, ServiceError, Written};
use crate::domain::{Precondition, Timestamp, Upload};
use crate::store::{Usage, VaultStore, object_key};

fn progress(result: Result<Patched, ServiceError>) -> u64 {
    match result {
        Ok(Patched::Progress(offset)) => offset,
        other => panic!("expected progress, got {other:?}"),
    }
}

fn committed(result: Result<Patched, ServiceError>) -> Written {
    match result {
        Ok(Patched::Committed(written)) => *written,
        other => panic!("expected a commit, got {other:?}"),
    }
}

fn mismatch(result: Result<Patched, ServiceError>) -> u64 {
    match result {
        Err(ServiceError::OffsetMismatch { current }) => current,
        other => panic!("expected offset mismatch, got {other:?}"),
    }
}

fn not_found<T: std::fmt::Debug>(result: Result<T, ServiceError>) {
    assert!(matches!(result, Err(ServiceError::NotFound)), "expected not found, got {result:?}");
}

impl Fixture {
    /// Starts an upload of `length` bytes to `vault` under `precondition`.
    async fn start(&self, vault: &str, length: u64, precondition: Precondition) -> Upload {
        let upload = super::NewUpload { precondition, ..new_upload(self.user, vault, length) };
        self.service.create_upload(upload).await.unwrap()
    }

    /// PATCHes `bytes` at `offset` into upload `id`.
    async fn patch(&self, id: Uuid, offset: u64, bytes: &[u8]) -> Result<Patched, ServiceError> {
        self.service.patch_upload(self.user, id, chunk(offset, bytes)).await
    }

    /// Where upload `id` stands now.
    async fn offset(&self, id: Uuid) -> i64 {
        self.service.upload(self.user, id).await.unwrap().upload_offset
    }
}

#[tokio::test]
async fn a_new_upload_starts_at_offset_zero_and_reserves_its_length() {
    let f = Fixture::standard().await;
    let upload = f.start("notes", 10, Precondition::Absent).await;
    assert_eq!((upload.upload_offset, upload.upload_length), (0, 10));
    assert!(!upload.committed());
    let read = f.service.upload(f.user, upload.id).await.unwrap();
    assert_eq!((read.upload_offset, read.etag), (0, upload.etag));
    assert_eq!(f.stored("notes").await, None, "no vault before the last byte");
    let usage = f.store.usage(f.user).await.unwrap();
    assert_eq!((usage.reserved_bytes, usage.reserved_vaults, usage.vaults), (10, 1, 0));
    // Another user sees nothing of it.
    let stranger = add_user(&f.store).await;
    not_found(f.service.upload(stranger, upload.id).await);
    not_found(f.service.patch_upload(stranger, upload.id, chunk(0, b"x")).await);
    not_found(f.service.delete_upload(stranger, upload.id).await);
    assert_eq!(f.offset(upload.id).await, 0);
}

#[tokio::test]
async fn a_patch_at_the_wrong_offset_conflicts_and_moves_nothing() {
    let f = Fixture::standard().await;
    let upload = f.start("notes", 10, Precondition::Absent).await;
    assert_eq!(mismatch(f.patch(upload.id, 5, b"abc").await), 0);
    assert_eq!(f.offset(upload.id).await, 0);
    assert_eq!(progress(f.patch(upload.id, 0, b"abcd").await), 4);
    for wrong in [0, 3, 5, 10] {
        assert_eq!(mismatch(f.patch(upload.id, wrong, b"ef").await), 4, "at {wrong}");
    }
    assert_eq!(f.offset(upload.id).await, 4);
}

#[tokio::test]
async fn a_patch_past_the_length_is_refused_and_moves_nothing() {
    let f = Fixture::standard().await;
    let upload = f.start("notes", 10, Precondition::Absent).await;
    let over = f.patch(upload.id, 0, &[1; 11]).await;
    assert!(matches!(over, Err(ServiceError::TooLarge { limit: 10 })), "{over:?}");
    assert_eq!(f.offset(upload.id).await, 0);
    assert_eq!(progress(f.patch(upload.id, 0, &[1; 6]).await), 6);
    let over = f.patch(upload.id, 6, &[2; 5]).await;
    assert!(matches!(over, Err(ServiceError::TooLarge { limit: 10 })), "{over:?}");
    assert_eq!(f.offset(upload.id).await, 6);
    assert_eq!(f.stored("notes").await, None);
    assert_eq!(committed(f.patch(upload.id, 6, &[2; 4]).await).vault.size, 10);
}

#[tokio::test]
async fn partial_patches_advance_and_the_last_one_commits_the_vault() {
    let f = Fixture::standard().await;
    let upload = f.start("notes", 10, Precondition::Absent).await;
    assert_eq!(progress(f.patch(upload.id, 0, b"abc").await), 3);
    assert_eq!(progress(f.patch(upload.id, 3, b"").await), 3, "an empty PATCH is no progress");
    assert_eq!(progress(f.patch(upload.id, 3, b"defg").await), 7);
    assert_eq!(f.offset(upload.id).await, 7);
    assert_eq!(f.blobs.list("uploads").await.unwrap().len(), 1, "the bytes wait in a tail object");
    let written = committed(f.patch(upload.id, 7, b"hij").await);
    assert!(written.created);
    let vault = written.vault;
    assert_eq!((vault.etag.as_str(), vault.size, vault.revision), (upload.etag.as_str(), 10, 1));
    assert_eq!(
        f.service.get(f.user, &crate::domain::VaultId::parse(&vault.vault_id).unwrap()).await.unwrap(),
        vault
    );
    assert_eq!(f.read(&vault).await, b"abcdefghij");
    assert_eq!(f.objects().await, [object_key(f.user, &upload.etag)]);
    let expected = Usage { bytes: 10, vaults: 1, ..Usage::default() };
    assert_eq!(f.store.usage(f.user).await.unwrap(), expected, "the reservation became the vault");
    assert!(f.blobs.list("uploads").await.unwrap().is_empty(), "no tail left behind");
}

#[tokio::test]
async fn a_patch_after_the_commit_stores_nothing() {
    let f = Fixture::standard().await;
    let upload = f.start("notes", 4, Precondition::Absent).await;
    let vault = committed(f.patch(upload.id, 0, b"abcd").await).vault;
    // A client that missed the answer asks again with nothing more to send.
    match f.patch(upload.id, 4, b"").await {
        Ok(Patched::AlreadyCommitted { etag, size }) => assert_eq!((etag, size), (vault.etag.clone(), 4)),
        other => panic!("expected already committed, got {other:?}"),
    }
    let more = f.patch(upload.id, 4, b"e").await;
    assert!(matches!(more, Err(ServiceError::TooLarge { limit: 4 })), "{more:?}");
    assert_eq!(mismatch(f.patch(upload.id, 0, b"wxyz").await), 4);
    assert_eq!(f.stored("notes").await.unwrap(), vault, "still revision 1");
    assert_eq!(f.read(&vault).await, b"abcd");
}

#[tokio::test]
async fn an_ended_upload_takes_no_more_patches_and_releases_its_bytes() {
    let f = Fixture::standard().await;
    let upload = f.start("notes", 10, Precondition::Absent).await;
    assert_eq!(progress(f.patch(upload.id, 0, b"abc").await), 3);
    assert_eq!(f.blobs.list("uploads").await.unwrap().len(), 1, "the bytes wait in a tail object");
    f.service.delete_upload(f.user, upload.id).await.unwrap();
    not_found(f.service.upload(f.user, upload.id).await);
    not_found(f.patch(upload.id, 3, b"defghij").await);
    not_found(f.service.delete_upload(f.user, upload.id).await);
    assert_eq!(f.stored("notes").await, None);
    assert_eq!(f.store.usage(f.user).await.unwrap(), Usage::default(), "nothing reserved");
    assert!(f.objects().await.is_empty());
    assert!(f.blobs.list("uploads").await.unwrap().is_empty(), "the tail is released");
}

#[tokio::test]
async fn ending_a_committed_upload_leaves_its_vault_alone() {
    let f = Fixture::standard().await;
    let upload = f.start("notes", 4, Precondition::Absent).await;
    let vault = committed(f.patch(upload.id, 0, b"abcd").await).vault;
    f.service.delete_upload(f.user, upload.id).await.unwrap();
    not_found(f.patch(upload.id, 4, b"").await);
    assert_eq!(f.stored("notes").await.unwrap(), vault);
    assert_eq!(f.read(&vault).await, b"abcd");
    assert!(f.queued(Timestamp::now().plus(HOUR * 24)).await.is_empty(), "its object is the vault's");
}

#[tokio::test]
async fn an_upload_past_its_timeout_is_gone() {
    let f = Fixture::new(limits(), Duration::from_millis(1)).await;
    let upload = f.start("notes", 10, Precondition::Absent).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    not_found(f.service.upload(f.user, upload.id).await);
    not_found(f.patch(upload.id, 0, &[1; 10]).await);
    not_found(f.service.delete_upload(f.user, upload.id).await);
    assert_eq!(f.stored("notes").await, None);
    assert_eq!(f.service.sweep_uploads(Timestamp::now()).await.unwrap(), 1);
    assert_eq!(f.service.sweep_uploads(Timestamp::now()).await.unwrap(), 0);
}

#[tokio::test]
async fn a_checksum_that_does_not_match_discards_the_chunk() {
    let f = Fixture::standard().await;
    let upload = f.start("notes", 10, Precondition::Absent).await;
    let digest = |bytes: &[u8]| -> [u8; 32] { Sha256::digest(bytes).into() };
    let wrong = Chunk { sha256: Some(digest(b"abd")), ..chunk(0, b"abc") };
    let refused = f.service.patch_upload(f.user, upload.id, wrong).await;
    assert!(matches!(refused, Err(ServiceError::ChecksumMismatch)), "{refused:?}");
    assert_eq!(f.offset(upload.id).await, 0);
    let right = Chunk { sha256: Some(digest(b"abc")), ..chunk(0, b"abc") };
    assert_eq!(progress(f.service.patch_upload(f.user, upload.id, right).await), 3);
}

#[tokio::test]
async fn a_broken_body_keeps_what_arrived_unless_it_was_checksummed() {
    let f = Fixture::standard().await;
    let upload = f.start("notes", 10, Precondition::Absent).await;
    let broken = |offset| {
        let parts = [Ok(Bytes::from_static(b"abc")), Err(std::io::Error::other("connection reset"))];
        Chunk { offset, sha256: None, body: futures::stream::iter(parts) }
    };
    let cut = f.service.patch_upload(f.user, upload.id, broken(0)).await;
    assert!(matches!(cut, Err(ServiceError::IncompleteBody)), "{cut:?}");
    assert_eq!(f.offset(upload.id).await, 3, "the bytes before the break are kept");
    let checked = Chunk { sha256: Some([0; 32]), ..broken(3) };
    let cut = f.service.patch_upload(f.user, upload.id, checked).await;
    assert!(matches!(cut, Err(ServiceError::IncompleteBody)), "{cut:?}");
    assert_eq!(f.offset(upload.id).await, 3, "a checksummed chunk is all or nothing");
    assert_eq!(committed(f.patch(upload.id, 3, b"defghij").await).vault.size, 10);
}

#[tokio::test]
async fn an_upload_whose_precondition_fails_already_is_not_started() {
    let f = Fixture::standard().await;
    let etag = f.put("notes", Precondition::Absent, b"v1").await.unwrap().vault.etag;
    let start = |precondition| super::NewUpload { precondition, ..new_upload(f.user, "notes", 4) };
    let absent = f.service.create_upload(start(Precondition::Absent)).await;
    assert_eq!(precondition_failed(absent), Some(etag.clone()));
    let stale = f.service.create_upload(start(Precondition::Etag("0".repeat(32)))).await;
    assert_eq!(precondition_failed(stale), Some(etag));
    let missing = super::NewUpload {
        precondition: Precondition::Etag("0".repeat(32)),
        ..new_upload(f.user, "other", 4)
    };
    assert_eq!(precondition_failed(f.service.create_upload(missing).await), None);
    let usage = f.store.usage(f.user).await.unwrap();
    assert_eq!((usage.reserved_bytes, usage.reserved_vaults), (0, 0));
}

#[tokio::test]
async fn a_create_upload_loses_to_a_write_in_between_at_its_last_patch() {
    let f = Fixture::standard().await;
    let upload = f.start("notes", 6, Precondition::Absent).await;
    assert_eq!(progress(f.patch(upload.id, 0, b"abc").await), 3);
    let winner = f.put("notes", Precondition::Absent, b"winner").await.unwrap().vault;
    assert_eq!(precondition_failed(f.patch(upload.id, 3, b"def").await), Some(winner.etag.clone()));

    assert_eq!(f.stored("notes").await.unwrap(), winner, "nothing committed");
    assert_eq!(f.read(&winner).await, b"winner");
    assert_eq!(f.objects().await, [object_key(f.user, &winner.etag)], "the upload's object is discarded");
    not_found(f.service.upload(f.user, upload.id).await);
    not_found(f.patch(upload.id, 6, b"").await);
    let expected = Usage { bytes: 6, vaults: 1, ..Usage::default() };
    assert_eq!(f.store.usage(f.user).await.unwrap(), expected, "its reservation is gone");
}

#[tokio::test]
async fn a_replace_upload_commits_only_over_the_revision_it_named() {
    let f = Fixture::standard().await;
    let v1 = f.put("notes", Precondition::Absent, b"v1").await.unwrap().vault;
    let upload = f.start("notes", 3, Precondition::Etag(v1.etag.clone())).await;
    let v2 = f.put("notes", Precondition::Etag(v1.etag.clone()), b"v2").await.unwrap().vault;
    assert_eq!(precondition_failed(f.patch(upload.id, 0, b"up!").await), Some(v2.etag.clone()));
    assert_eq!(f.stored("notes").await.unwrap(), v2, "still revision 2");

    let upload = f.start("notes", 3, Precondition::Etag(v2.etag.clone())).await;
    let v3 = committed(f.patch(upload.id, 0, b"up!").await).vault;
    assert_eq!((v3.revision, v3.etag.as_str()), (3, upload.etag.as_str()));
    assert_eq!(f.read(&v3).await, b"up!");
    let after_grace = Timestamp::now().plus(super::test_support::GRACE + Duration::from_secs(1));
    let mut replaced = vec![object_key(f.user, &v1.etag), object_key(f.user, &v2.etag)];
    replaced.sort();
    assert_eq!(f.queued(after_grace).await, replaced, "replaced objects wait for the sweeper");
}
