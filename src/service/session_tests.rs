//! Session and token rules through [`AuthService`] on an in-memory SQLite store: which bearer
//! tokens `authenticate` accepts (expiry, `iat`, lifetime, key, the session's user and scope),
//! sessions ended by logout, a credential change or their own expiry, and refresh-token
//! rotation, where presenting a used refresh token revokes the whole session.

use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;

use super::test_support::{ACCESS_TTL, TOKEN_SECRET, auth_service, sqlite};
use super::{
    AuthService, CredentialChange, KDF_PBKDF2_SHA256, KdfParams, Login, Principal, Registration, Scope,
    ServiceError, TokenIssuer, TokenPair,
};
use crate::domain::Timestamp;

const HOUR: Duration = Duration::from_secs(3600);
const PASSWORD: [u8; 32] = [5; 32];

fn client() -> IpAddr {
    "192.0.2.1".parse().unwrap()
}

/// An auth service with one registered user, `alice`; returns her id.
async fn with_alice(refresh_ttl: Duration) -> (AuthService, Uuid) {
    let auth = auth_service(&sqlite().await, refresh_ttl).await;
    let kdf = KdfParams { kdf: KDF_PBKDF2_SHA256.into(), iterations: 1000, salt: vec![3; 16] };
    let registration =
        Registration { username: "alice".into(), auth_hash: PASSWORD.to_vec(), kdf, invite: None };
    let user = auth.register(registration).await.unwrap();
    (auth, user.id)
}

async fn login(auth: &AuthService, scope: Option<&str>) -> Result<TokenPair, ServiceError> {
    let login = Login {
        username: "Alice".into(),
        auth_hash: PASSWORD.to_vec(),
        scope: scope.map(Into::into),
        device_name: None,
        client: client(),
    };
    auth.login(login).await
}

/// A token signed with the service's key for `user` in `session`, issued at `iat`.
fn forged(user: Uuid, session: Uuid, scope: &str, iat: Timestamp) -> String {
    TokenIssuer::new(&TOKEN_SECRET, ACCESS_TTL).issue(user, session, scope, iat).unwrap().token
}

fn revoked<T: std::fmt::Debug>(result: Result<T, ServiceError>) {
    assert!(matches!(result, Err(ServiceError::TokenRevoked)), "expected token_revoked, got {result:?}");
}

fn unauthenticated<T: std::fmt::Debug>(result: Result<T, ServiceError>) {
    assert!(matches!(result, Err(ServiceError::Unauthenticated)), "expected unauthenticated, got {result:?}");
}

#[tokio::test]
async fn a_login_token_speaks_for_its_user_and_session() {
    let (auth, alice) = with_alice(HOUR).await;
    let pair = login(&auth, None).await.unwrap();
    assert_eq!((pair.scope.as_str(), pair.expires_in), ("vault:read vault:write account", 300));
    let who = auth.authenticate(&pair.access_token).await.unwrap();
    assert_eq!(who.user_id, alice);
    let lives = Timestamp::now().until(who.expires_at);
    assert!(lives <= ACCESS_TTL && lives > ACCESS_TTL - Duration::from_secs(5), "{lives:?}");
    let info = auth.session_info(&who).await.unwrap();
    assert_eq!((info.username.as_str(), info.session_id), ("alice", who.session_id));
    let wrong = Login {
        username: "alice".into(),
        auth_hash: vec![6; 32],
        scope: None,
        device_name: None,
        client: client(),
    };
    assert!(matches!(auth.login(wrong).await, Err(ServiceError::InvalidCredentials)));
}

#[tokio::test]
async fn authenticate_refuses_expired_early_long_and_foreign_tokens() {
    let (auth, alice) = with_alice(HOUR).await;
    let who = auth.authenticate(&login(&auth, None).await.unwrap().access_token).await.unwrap();
    let (sid, all, now) = (who.session_id, "vault:read vault:write account", Timestamp::now());
    assert!(auth.authenticate(&forged(alice, sid, all, now)).await.is_ok(), "the control");

    let expired = forged(alice, sid, all, now.minus(ACCESS_TTL + Duration::from_secs(2)));
    assert!(matches!(auth.authenticate(&expired).await, Err(ServiceError::TokenExpired)));
    unauthenticated(auth.authenticate(&forged(alice, sid, all, now.plus(Duration::from_secs(10)))).await);
    let long = TokenIssuer::new(&TOKEN_SECRET, ACCESS_TTL * 2).issue(alice, sid, all, now).unwrap().token;
    unauthenticated(auth.authenticate(&long).await);
    let foreign = TokenIssuer::new(&[7; 32], ACCESS_TTL).issue(alice, sid, all, now).unwrap().token;
    unauthenticated(auth.authenticate(&foreign).await);
    unauthenticated(auth.authenticate("not-a-jwt").await);
}

#[tokio::test]
async fn a_token_must_name_its_sessions_user_and_a_live_session() {
    let (auth, alice) = with_alice(HOUR).await;
    let who = auth.authenticate(&login(&auth, None).await.unwrap().access_token).await.unwrap();
    let all = "vault:read vault:write account";
    revoked(auth.authenticate(&forged(Uuid::new_v4(), who.session_id, all, Timestamp::now())).await);
    revoked(auth.authenticate(&forged(alice, Uuid::new_v4(), all, Timestamp::now())).await);
}

#[tokio::test]
async fn the_scope_that_counts_is_the_sessions() {
    let (auth, alice) = with_alice(HOUR).await;
    let pair = login(&auth, Some("vault:read")).await.unwrap();
    assert_eq!(pair.scope, "vault:read");
    let who = auth.authenticate(&pair.access_token).await.unwrap();
    who.scopes.require(Scope::VaultRead).unwrap();
    assert!(matches!(
        who.scopes.require(Scope::VaultWrite),
        Err(ServiceError::InsufficientScope("vault:write"))
    ));
    assert!(matches!(who.scopes.require(Scope::Account), Err(ServiceError::InsufficientScope("account"))));
    // A token of this session claiming more or other than it was granted is refused...
    let now = Timestamp::now();
    for claim in ["vault:read vault:write account", "vault:read account", "vault:admin"] {
        unauthenticated(auth.authenticate(&forged(alice, who.session_id, claim, now)).await);
    }
    assert!(auth.authenticate(&forged(alice, who.session_id, "vault:read", now)).await.is_ok());
    // ...and so is one claiming less than its session holds.
    let full = auth.authenticate(&login(&auth, None).await.unwrap().access_token).await.unwrap();
    unauthenticated(auth.authenticate(&forged(alice, full.session_id, "vault:read", now)).await);
    // The refreshed pair keeps the session's scope.
    assert_eq!(auth.refresh(&pair.refresh_token).await.unwrap().scope, "vault:read");
    let unknown = login(&auth, Some("vault:read admin")).await;
    assert!(matches!(unknown, Err(ServiceError::InvalidField { field: "scope", .. })), "{unknown:?}");
}

#[tokio::test]
async fn logout_ends_the_session_and_only_that_one() {
    let (auth, _) = with_alice(HOUR).await;
    let (mine, other) = (login(&auth, None).await.unwrap(), login(&auth, None).await.unwrap());
    // Authenticated once, so the session is cached when the logout comes.
    let who = auth.authenticate(&mine.access_token).await.unwrap();
    auth.logout(&who, client()).await.unwrap();
    revoked(auth.authenticate(&mine.access_token).await);
    revoked(auth.refresh(&mine.refresh_token).await);
    assert!(auth.authenticate(&other.access_token).await.is_ok());
    assert!(auth.refresh(&other.refresh_token).await.is_ok());
}

#[tokio::test]
async fn a_credential_change_ends_every_other_session() {
    let (auth, _) = with_alice(HOUR).await;
    let (mine, other) = (login(&auth, None).await.unwrap(), login(&auth, None).await.unwrap());
    let who: Principal = auth.authenticate(&mine.access_token).await.unwrap();
    auth.authenticate(&other.access_token).await.unwrap();
    let change = CredentialChange {
        current_auth_hash: PASSWORD.to_vec(),
        new_auth_hash: vec![6; 32],
        new_salt: vec![4; 16],
        iterations: 2000,
        client: client(),
    };
    auth.change_credentials(&who, change).await.unwrap();
    revoked(auth.authenticate(&other.access_token).await);
    revoked(auth.refresh(&other.refresh_token).await);
    assert!(auth.authenticate(&mine.access_token).await.is_ok(), "the session that made the change stays");
    assert!(
        matches!(login(&auth, None).await, Err(ServiceError::InvalidCredentials)),
        "the old hash is void"
    );
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_revokes_the_session() {
    let (auth, alice) = with_alice(HOUR).await;
    let first = login(&auth, None).await.unwrap();
    let second = auth.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    let who = auth.authenticate(&second.access_token).await.unwrap();
    assert_eq!(who.user_id, alice);
    let session = who.session_id;
    assert_eq!(auth.authenticate(&first.access_token).await.unwrap().session_id, session, "one session");

    // The old token again: somebody holds a copy. The whole session ends, for both holders.
    revoked(auth.refresh(&first.refresh_token).await);
    revoked(auth.authenticate(&second.access_token).await);
    revoked(auth.authenticate(&first.access_token).await);
    revoked(auth.refresh(&second.refresh_token).await);
    // Other sessions are not touched.
    assert!(auth.authenticate(&login(&auth, None).await.unwrap().access_token).await.is_ok());
    unauthenticated(auth.refresh("never-issued").await);
}

#[tokio::test]
async fn an_expired_session_takes_neither_its_access_nor_its_refresh_token() {
    let (auth, _) = with_alice(Duration::from_millis(20)).await;
    let pair = login(&auth, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(40)).await;
    // The access token itself is still within its lifetime; its session is not.
    revoked(auth.authenticate(&pair.access_token).await);
    let refreshed = auth.refresh(&pair.refresh_token).await;
    assert!(matches!(refreshed, Err(ServiceError::TokenExpired)), "{refreshed:?}");
}
