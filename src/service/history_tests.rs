//! Revision history, the trash and the change log on in-process stores: retention by count
//! and by age with the objects gone afterwards, restores and their races, the trash (restore,
//! another id, id reuse, purge, expiry), quota counting history and trash, and the log's order,
//! completeness, waiting and expiry.

use std::time::Duration;

use super::ServiceError;
use super::test_support::{Fixture, GRACE, TRASH_FOR, after_grace, id, if_match, over, precondition_failed};
use crate::domain::{ChangeKind, Precondition, Retention, Timestamp};
use crate::store::object_key;

fn keep(revisions: u32, for_: Duration) -> Retention {
    Retention { keep_revisions: revisions, keep_for: for_ }
}

/// Writes `bodies` to vault `name` one after another; returns the etags, oldest first.
async fn revisions(f: &Fixture, name: &str, bodies: &[&[u8]]) -> Vec<String> {
    let mut etags: Vec<String> = Vec::new();
    for body in bodies {
        let expect = etags.last().map_or(Precondition::Absent, |e| if_match(e));
        etags.push(f.put(name, expect, body).await.unwrap().vault.etag);
    }
    etags
}

async fn listed_revisions(f: &Fixture, name: &str) -> Vec<i64> {
    let page = f.service.revisions(f.user, &id(name), None, 100).await.unwrap();
    page.items.iter().map(|v| v.revision).collect()
}

/// Sweeps at `at`, then again once the grace period of what that queued has passed.
async fn sweep_through(f: &Fixture, at: Timestamp) {
    f.sweeper().sweep(at).await.unwrap();
    f.sweeper().sweep(at.plus(GRACE + Duration::from_secs(1))).await.unwrap();
}

#[tokio::test]
async fn the_count_window_keeps_the_last_n_and_their_objects() {
    let f = Fixture::with_history(keep(3, Duration::ZERO)).await;
    let etags = revisions(&f, "notes", &[b"r1", b"r2", b"r3", b"r4", b"r5", b"r6"]).await;
    assert_eq!(listed_revisions(&f, "notes").await, [6, 5, 4, 3]);
    let usage = f.store_usage().await;
    assert_eq!((usage.history_bytes, usage.history_revisions, usage.bytes), (6, 3, 2));
    sweep_through(&f, after_grace()).await;
    let mut kept: Vec<String> = etags[2..].iter().map(|e| object_key(f.user, e)).collect();
    kept.sort();
    assert_eq!(f.objects().await, kept, "revisions 1 and 2 are gone from the store");
    let old = f.service.revision(f.user, &id("notes"), 3).await.unwrap();
    assert_eq!((old.etag.as_str(), f.read(&old).await.as_slice()), (etags[2].as_str(), b"r3".as_slice()));
    assert!(matches!(f.service.revision(f.user, &id("notes"), 2).await, Err(ServiceError::NotFound)));
    let page = f.service.revisions(f.user, &id("notes"), None, 2).await.unwrap();
    assert_eq!(page.items.iter().map(|v| v.revision).collect::<Vec<_>>(), [6, 5]);
    let next = f.service.revisions(f.user, &id("notes"), page.next_cursor.as_deref(), 2).await.unwrap();
    assert_eq!(
        (next.items.iter().map(|v| v.revision).collect::<Vec<_>>(), next.next_cursor),
        (vec![4, 3], None)
    );
}

#[tokio::test]
async fn the_age_rule_keeps_revisions_out_of_the_window_until_they_are_old() {
    let f = Fixture::with_history(keep(1, Duration::from_secs(3600))).await;
    let etags = revisions(&f, "notes", &[b"r1", b"r2", b"r3", b"r4"]).await;
    assert_eq!(listed_revisions(&f, "notes").await, [4, 3, 2, 1], "young revisions stay beyond the count");
    sweep_through(&f, after_grace()).await;
    assert_eq!(listed_revisions(&f, "notes").await, [4, 3, 2, 1], "and past the grace period");
    sweep_through(&f, Timestamp::now().plus(Duration::from_secs(3601))).await;
    assert_eq!(listed_revisions(&f, "notes").await, [4, 3], "the last one is kept by count");
    let mut kept = vec![object_key(f.user, &etags[2]), object_key(f.user, &etags[3])];
    kept.sort();
    assert_eq!(f.objects().await, kept);
    assert_eq!(f.store_usage().await.history_bytes, 2);
}

#[tokio::test]
async fn no_retention_queues_the_replaced_object_as_before() {
    let f = Fixture::with_history(Retention::NONE).await;
    let etags = revisions(&f, "notes", &[b"r1", b"r2"]).await;
    assert_eq!(listed_revisions(&f, "notes").await, [2]);
    assert_eq!(f.queued(after_grace()).await, [object_key(f.user, &etags[0])]);
}

#[tokio::test]
async fn a_restore_is_a_new_revision_with_the_old_content() {
    let f = Fixture::with_history(Retention::default()).await;
    let etags = revisions(&f, "notes", &[b"one", b"two"]).await;
    let stale = f.service.restore(f.user, &id("notes"), 1, &if_match(&etags[0]), None).await;
    assert_eq!(precondition_failed(stale), Some(etags[1].clone()));
    let missing = f.service.restore(f.user, &id("notes"), 9, &if_match(&etags[1]), None).await;
    assert!(matches!(missing, Err(ServiceError::NotFound)));
    let bad_receipt =
        f.service.restore(f.user, &id("notes"), 1, &if_match(&etags[1]), Some(vec![1; 4])).await;
    assert!(matches!(bad_receipt, Err(ServiceError::InvalidField { field: "receipt", .. })));

    let restored = f.service.restore(f.user, &id("notes"), 1, &if_match(&etags[1]), Some(vec![7; 32])).await;
    let vault = restored.unwrap().vault;
    assert_eq!((vault.revision, vault.receipt.as_deref()), (3, Some([7u8; 32].as_slice())));
    assert!(!etags.contains(&vault.etag), "a new etag, never an old one");
    assert_eq!(f.read(&vault).await, b"one");
    let first = f.service.revision(f.user, &id("notes"), 1).await.unwrap();
    assert_eq!((vault.sha256, vault.iv, vault.salt), (first.sha256, first.iv, first.salt));
    assert_eq!(f.objects().await.len(), 3, "a copy: revision 1's object stays with revision 1");
}

#[tokio::test]
async fn of_two_restores_and_a_write_on_the_same_etag_exactly_one_commits() {
    let f = Fixture::with_history(Retention::default()).await;
    let etags = revisions(&f, "notes", &[b"one", b"two", b"three"]).await;
    let base = if_match(&etags[2]);
    let notes = id("notes");
    let (a, b, c) = tokio::join!(
        f.service.restore(f.user, &notes, 1, &base, None),
        f.service.restore(f.user, &notes, 2, &base, None),
        f.put("notes", base.clone(), b"four"),
    );
    let won: Vec<_> = [a, b, c].into_iter().filter_map(Result::ok).collect();
    assert_eq!(won.len(), 1, "one compare-and-swap wins");
    let current = f.stored("notes").await.unwrap();
    assert_eq!((current.revision, &current.etag), (4, &won[0].vault.etag));
    assert_eq!(f.objects().await.len(), 4, "the losers' copies are discarded");
}

#[tokio::test]
async fn the_trash_keeps_a_deleted_vault_with_its_history_and_frees_its_id() {
    let f = Fixture::with_history(Retention::default()).await;
    let etags = revisions(&f, "notes", &[b"one", b"two"]).await;
    f.service.delete(f.user, &id("notes"), &Precondition::Exists).await.unwrap();
    assert!(matches!(f.service.get(f.user, &id("notes")).await, Err(ServiceError::NotFound)));
    let trash = f.service.trash(f.user, None, 10).await.unwrap().items;
    assert_eq!(trash.len(), 1);
    let entry = &trash[0];
    assert_eq!((entry.vault.vault_id.as_str(), entry.vault.revision, entry.history_count), ("notes", 2, 1));
    assert!(entry.expires_at.unix_millis() - entry.deleted_at.unix_millis() == TRASH_FOR.as_millis() as i64);

    // The id is free: a new vault there has no history of the old one.
    let fresh = f.put("notes", Precondition::Absent, b"new").await.unwrap().vault;
    assert_eq!((fresh.revision, listed_revisions(&f, "notes").await), (1, vec![1]));
    let taken = f.service.untrash(f.user, entry.id, None, None).await;
    assert!(matches!(taken, Err(ServiceError::VaultIdTaken { ref current }) if *current == fresh.etag));
    let back = f.service.untrash(f.user, entry.id, Some(id("notes-old")), Some(vec![5; 16])).await.unwrap();
    assert_eq!(
        (back.etag.as_str(), back.revision, back.written_as.as_deref()),
        (etags[1].as_str(), 2, Some("notes"))
    );
    assert_eq!(listed_revisions(&f, "notes-old").await, [2, 1]);
    let earlier = f.service.revision(f.user, &id("notes-old"), 1).await.unwrap();
    assert_eq!(
        (earlier.written_as.as_deref(), f.read(&earlier).await.as_slice()),
        (Some("notes"), b"one".as_slice())
    );
    assert!(f.service.trash(f.user, None, 10).await.unwrap().items.is_empty());
    assert!(matches!(f.service.untrash(f.user, entry.id, None, None).await, Err(ServiceError::NotFound)));
}

#[tokio::test]
async fn purging_and_expiry_remove_the_vault_and_its_history_from_the_store() {
    let f = Fixture::with_history(Retention::default()).await;
    // (The fixture's quota allows two live vaults: trashed ones do not count.)
    revisions(&f, "a", &[b"a1", b"a2", b"a3"]).await;
    let kept = revisions(&f, "b", &[b"b1"]).await;
    f.service.delete(f.user, &id("a"), &Precondition::Exists).await.unwrap();
    revisions(&f, "c", &[b"c1", b"c2"]).await;
    f.service.delete(f.user, &id("c"), &Precondition::Exists).await.unwrap();
    let trash = f.service.trash(f.user, None, 10).await.unwrap().items;
    let a = trash.iter().find(|e| e.vault.vault_id == "a").unwrap().id;
    f.service.purge(f.user, a).await.unwrap();
    assert!(matches!(f.service.purge(f.user, a).await, Err(ServiceError::NotFound)));
    sweep_through(&f, Timestamp::now()).await;
    assert_eq!(f.objects().await.len(), 1 + 2, "a's three objects are gone, c waits in the trash");
    assert_eq!(f.sweeper().sweep(Timestamp::now().plus(TRASH_FOR)).await.unwrap().trash_purged, 1);
    sweep_through(&f, Timestamp::now().plus(TRASH_FOR)).await;
    assert_eq!(f.objects().await, [object_key(f.user, &kept[0])]);
    let usage = f.store_usage().await;
    assert_eq!((usage.trash_bytes, usage.trash_vaults, usage.bytes), (0, 0, 2));
}

#[tokio::test]
async fn history_and_trash_count_against_the_byte_quota() {
    let f = Fixture::with_history(Retention::default()).await;
    let first = f.put("big", Precondition::Absent, &[1; 60_000]).await.unwrap().vault;
    f.put("big", if_match(&first.etag), &[2; 30_000]).await.unwrap();
    let usage = f.store_usage().await;
    assert_eq!((usage.bytes, usage.history_bytes), (30_000, 60_000));
    assert_eq!(over(f.put("other", Precondition::Absent, &[3; 20_000]).await), "bytes");
    f.service.delete(f.user, &id("big"), &Precondition::Exists).await.unwrap();
    assert_eq!(f.store_usage().await.trash_bytes, 90_000);
    assert_eq!(over(f.put("other", Precondition::Absent, &[3; 20_000]).await), "bytes", "the trash counts");
    let entry = f.service.trash(f.user, None, 1).await.unwrap().items[0].id;
    f.service.purge(f.user, entry).await.unwrap();
    f.put("other", Precondition::Absent, &[3; 20_000]).await.unwrap();
}

#[tokio::test]
async fn the_log_has_every_change_once_in_commit_order_and_expires() {
    let f = Fixture::with_history(Retention::default()).await;
    let etags = revisions(&f, "notes", &[b"one", b"two"]).await;
    let restored =
        f.service.restore(f.user, &id("notes"), 1, &if_match(&etags[1]), None).await.unwrap().vault;
    f.service.delete(f.user, &id("notes"), &Precondition::Exists).await.unwrap();
    let entry = f.service.trash(f.user, None, 1).await.unwrap().items[0].id;
    f.service.untrash(f.user, entry, None, None).await.unwrap();
    f.service.delete(f.user, &id("notes"), &Precondition::Exists).await.unwrap();
    f.service.purge(f.user, entry).await.unwrap();

    let page = f.service.changes(f.user, 0, 100, Duration::ZERO).await.unwrap();
    let kinds: Vec<_> = page.changes.iter().map(|c| (c.seq, c.kind, c.revision)).collect();
    use ChangeKind::*;
    assert_eq!(
        kinds,
        [
            (1, Create, Some(1)),
            (2, Replace, Some(2)),
            (3, Restore, Some(3)),
            (4, Delete, Some(3)),
            (5, Untrash, Some(3)),
            (6, Delete, Some(3)),
            (7, Purge, Some(3))
        ]
    );
    assert_eq!(page.changes[2].etag.as_deref(), Some(restored.etag.as_str()));
    assert_eq!(page.changes[3].trash_id, Some(entry));
    assert_eq!((page.cursor, page.more), (7, false));
    let first = f.service.changes(f.user, 0, 2, Duration::ZERO).await.unwrap();
    assert_eq!((first.cursor, first.more), (2, true));
    assert_eq!(f.service.change_head(f.user).await.unwrap(), 7);

    // Compaction past the first five: older cursors must list afresh, newer ones go on.
    f.sweeper().sweep(Timestamp::now().plus(TRASH_FOR + Duration::from_secs(1))).await.unwrap();
    assert!(matches!(
        f.service.changes(f.user, 0, 10, Duration::ZERO).await,
        Err(ServiceError::CursorExpired)
    ));
    let at_head = f.service.changes(f.user, 7, 10, Duration::ZERO).await.unwrap();
    assert_eq!((at_head.changes.len(), at_head.cursor), (0, 7));
    let ahead = f.service.changes(f.user, 8, 10, Duration::ZERO).await;
    assert!(matches!(ahead, Err(ServiceError::CursorExpired)), "a cursor beyond the head is not honoured");
}

#[tokio::test]
async fn a_waiting_reader_gets_the_next_change_as_it_commits() {
    let f = Fixture::with_history(Retention::default()).await;
    let started = std::time::Instant::now();
    let waiting = f.service.changes(f.user, 0, 10, Duration::from_secs(30));
    let writing = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        f.put("notes", Precondition::Absent, b"one").await.unwrap()
    };
    let (page, written) = tokio::join!(waiting, writing);
    let page = page.unwrap();
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].etag.as_deref(), Some(written.vault.etag.as_str()));
    assert!(started.elapsed() < Duration::from_secs(10), "woken, not timed out: {:?}", started.elapsed());
    let idle = f.service.changes(f.user, 1, 10, Duration::from_millis(300)).await.unwrap();
    assert_eq!(
        (idle.changes.len(), idle.cursor),
        (0, 1),
        "nothing new: an empty answer at the end of the wait"
    );
}
