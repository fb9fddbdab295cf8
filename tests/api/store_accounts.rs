//! The account half of the store story (`store_story.rs`): an account, its sessions with their
//! audit events, and the login throttle, through the metadata store's traits on either engine.

use std::time::Duration;

use blindvault::domain::Timestamp;
use blindvault::store::{
    MetadataStore, NewAuditEvent, NewCredentials, NewSession, NewUser, RefreshRotation, StoreError,
};
use uuid::Uuid;

use crate::store_story::PHC;

pub(crate) async fn account<S: MetadataStore>(store: &S, now: Timestamp) -> Uuid {
    let new = NewUser {
        id: Uuid::new_v4(),
        username: "alice".into(),
        auth_phc: PHC.into(),
        kdf: "pbkdf2-sha256".into(),
        kdf_salt: vec![7; 16],
        kdf_iterations: 600_000,
        now,
        invite: None,
    };
    let created = store.create_user(&new).await.unwrap();
    assert_eq!((created.id, created.created_at, created.security_stamp), (new.id, now, 1));
    let again = store.create_user(&NewUser { id: Uuid::new_v4(), ..new.clone() }).await;
    assert!(matches!(again, Err(StoreError::Conflict("username"))), "{again:?}");
    let by_name = store.user_by_username("alice").await.unwrap().unwrap();
    assert_eq!((by_name.id, &by_name.kdf_salt, by_name.updated_at), (new.id, &new.kdf_salt, now));
    assert!(store.user_by_username("bob").await.unwrap().is_none());

    let shapes = store.account_shapes().await.unwrap();
    assert_eq!(shapes.len(), 1);
    assert_eq!((shapes[0].salt_len, shapes[0].iterations, shapes[0].accounts), (16, 600_000, 1));
    assert_eq!(shapes[0].hash_params, "$argon2id$v=19$m=256,t=1,p=1$");

    store.rehash_auth(new.id, 1, "rehashed").await.unwrap();
    store.rehash_auth(new.id, 5, "stale stamp").await.unwrap();
    assert_eq!(store.user_by_id(new.id).await.unwrap().unwrap().auth_phc, "rehashed");
    new.id
}

pub(crate) async fn sessions<S: MetadataStore>(store: &S, user: Uuid, now: Timestamp) -> Uuid {
    let day = Duration::from_secs(86_400);
    let new = |refresh: &[u8]| NewSession {
        id: Uuid::new_v4(),
        user_id: user,
        scope: "vault:read vault:write".into(),
        refresh_hash: refresh.to_vec(),
        now,
        expires_at: now.plus(day),
        device_name: "laptop".into(),
        address: "192.0.2.0/24".into(),
        opened: NewAuditEvent {
            user_id: user,
            at: now,
            kind: "login_succeeded",
            session_id: None,
            address: "192.0.2.0/24".into(),
            detail: "{}".into(),
        },
    };
    let (first, second) = (new(b"h1"), new(b"other"));
    store.create_session(&first).await.unwrap();
    store.create_session(&second).await.unwrap();
    let logged = store.audit_events(user, None, 10).await.unwrap();
    assert_eq!(
        logged.iter().filter(|e| e.kind == "login_succeeded").count(),
        2,
        "each session with its event"
    );
    assert!(store.session(first.id).await.unwrap().unwrap().is_live(now));

    let later = now.plus(Duration::from_secs(60));
    match store.rotate_refresh_token(b"h1", b"h2", later, later.plus(day)).await.unwrap() {
        RefreshRotation::Rotated(s) => {
            assert_eq!((s.id, s.last_used_at, s.expires_at), (first.id, later, later.plus(day)))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.rotate_refresh_token(b"nope", b"x", later, later).await.unwrap(),
        RefreshRotation::Unknown
    ));
    // A used token again: its whole session ends, and its successor stops working.
    assert!(matches!(
        store.rotate_refresh_token(b"h1", b"h3", later, later).await.unwrap(),
        RefreshRotation::Reused(id) if id == first.id
    ));
    assert!(!store.session(first.id).await.unwrap().unwrap().is_live(later));
    assert!(matches!(
        store.rotate_refresh_token(b"h2", b"h4", later, later).await.unwrap(),
        RefreshRotation::SessionEnded(s) if s.id == first.id
    ));
    store.revoke_session(first.id, later).await.unwrap();

    // A credential change applies only at the stamp read, and ends every other session.
    let third = new(b"h5");
    store.create_session(&third).await.unwrap();
    let change = |expected_stamp| NewCredentials {
        user_id: user,
        expected_stamp,
        auth_phc: "new".into(),
        kdf_salt: vec![9; 16],
        kdf_iterations: 700_000,
        keep_session: third.id,
        now: later,
    };
    assert!(!store.change_credentials(&change(7)).await.unwrap());
    assert!(store.session(second.id).await.unwrap().unwrap().is_live(later), "nothing changed");
    assert!(store.change_credentials(&change(1)).await.unwrap());
    let changed = store.user_by_id(user).await.unwrap().unwrap();
    assert_eq!((changed.security_stamp, changed.kdf_iterations, changed.updated_at), (2, 700_000, later));
    assert!(!store.session(second.id).await.unwrap().unwrap().is_live(later));
    assert!(store.session(third.id).await.unwrap().unwrap().is_live(later));
    third.id
}

pub(crate) async fn throttle<S: MetadataStore>(store: &S, now: Timestamp) {
    let since = now.minus(Duration::from_secs(60));
    let limits = [("account:alice", 2), ("address:192.0.2.1", 10)];
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    assert!(store.reserve_attempt(a, &limits, since, now).await.unwrap().is_none());
    assert!(store.reserve_attempt(b, &limits, since, now).await.unwrap().is_none());
    let refused = store.reserve_attempt(Uuid::new_v4(), &limits, since, now).await.unwrap().unwrap();
    assert_eq!((refused.count, refused.oldest), (2, Some(now)), "a refused attempt records nothing");
    store.release_attempt(a, &["account:alice", "address:192.0.2.1"]).await.unwrap();
    let c = Uuid::new_v4();
    assert!(store.reserve_attempt(c, &limits, since, now).await.unwrap().is_none());
    store.login_succeeded("account:alice", c, "address:192.0.2.1").await.unwrap();
    // The address keeps b's failure only (c was taken back), the account keeps none.
    let address_only = [("address:192.0.2.1", 1)];
    let refused = store.reserve_attempt(Uuid::new_v4(), &address_only, since, now).await.unwrap().unwrap();
    assert_eq!(refused.count, 1);
    assert!(store.reserve_attempt(Uuid::new_v4(), &limits, since, now).await.unwrap().is_none());
    assert!(store.reserve_attempt(Uuid::new_v4(), &limits, since, now).await.unwrap().is_none());
    // Outside the window nothing counts, and pruning removes it.
    let next_window = now.plus(Duration::from_secs(61));
    assert!(store.reserve_attempt(Uuid::new_v4(), &limits, now, next_window).await.unwrap().is_none());
    assert!(store.prune(next_window).await.unwrap() >= 3);
}
