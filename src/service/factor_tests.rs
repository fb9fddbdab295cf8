//! Second factors, login challenges, sessions, invites and disabled accounts: the rules, on an
//! in-memory SQLite store.

use std::net::IpAddr;
use std::time::Duration;

use super::test_support::{HOUR, auth_service_with, sqlite};
use super::{
    AuthService, KDF_PBKDF2_SHA256, KdfParams, Login, Principal, Registration, RegistrationMode,
    SecondFactor, SecondStep, ServiceError, ThrottlePolicy, TokenPair, invite_hash, totp_code_for,
};
use crate::domain::Timestamp;

const PASSWORD: [u8; 32] = [4; 32];

fn client() -> IpAddr {
    "198.51.100.7".parse().unwrap()
}

fn generous() -> ThrottlePolicy {
    ThrottlePolicy { per_account: 100, per_address: 100, window: Duration::from_secs(60) }
}

async fn alice_with(policy: ThrottlePolicy) -> AuthService {
    alice_on(&sqlite().await, policy).await
}

async fn alice_on(store: &std::sync::Arc<crate::store::SqliteStore>, policy: ThrottlePolicy) -> AuthService {
    let auth = auth_service_with(store, HOUR, policy, RegistrationMode::Open).await;
    auth.register(registration("alice", None)).await.unwrap();
    auth
}

impl AuthService {
    /// Whether `who`'s session is live, as stored.
    async fn authenticate_session(&self, who: &Principal) -> Result<(), ServiceError> {
        let session = self.store.session(who.session_id).await?.ok_or(ServiceError::TokenRevoked)?;
        if session.is_live(Timestamp::now()) { Ok(()) } else { Err(ServiceError::TokenRevoked) }
    }
}

fn registration(name: &str, invite: Option<&str>) -> Registration {
    let kdf = KdfParams { kdf: KDF_PBKDF2_SHA256.into(), iterations: 1000, salt: vec![3; 16] };
    Registration { username: name.into(), auth_hash: PASSWORD.to_vec(), kdf, invite: invite.map(Into::into) }
}

async fn login(auth: &AuthService, device: &str) -> Result<TokenPair, ServiceError> {
    login_as(auth, "alice", device).await
}

async fn login_as(auth: &AuthService, user: &str, device: &str) -> Result<TokenPair, ServiceError> {
    let login = Login {
        username: user.into(),
        auth_hash: PASSWORD.to_vec(),
        scope: None,
        device_name: Some(device.into()),
        client: client(),
    };
    auth.login(login).await
}

async fn principal(auth: &AuthService, device: &str) -> Principal {
    auth.authenticate(&login(auth, device).await.unwrap().access_token).await.unwrap()
}

/// Bob, who has an account beside alice's.
async fn bob(auth: &AuthService) -> Principal {
    auth.authenticate(&login_as(auth, "bob", "bob's").await.unwrap().access_token).await.unwrap()
}

/// The code an authenticator app shows `seconds` from now.
fn code(secret: &str, seconds: i64) -> String {
    totp_code_for(secret, Timestamp::now().unix_seconds() + seconds).unwrap()
}

/// Enables TOTP for alice; the secret and the recovery codes.
async fn with_totp(auth: &AuthService) -> (String, Vec<String>, Principal) {
    let who = principal(auth, "laptop").await;
    let enrolment = auth.totp_begin(&who, PASSWORD.to_vec(), client()).await.unwrap();
    assert!(enrolment.otpauth_uri.contains(&format!("secret={}", enrolment.secret)));
    let codes = auth.totp_confirm(&who, &code(&enrolment.secret, 0), client()).await.unwrap();
    (enrolment.secret, codes.expect("the first factor brings recovery codes"), who)
}

/// The challenge a right password gets now.
async fn challenge(auth: &AuthService) -> String {
    match login(auth, "phone").await {
        Err(ServiceError::SecondFactorRequired(c)) => {
            assert_eq!(c.factors, ["totp", "recovery_code"]);
            c.token
        }
        other => panic!("expected second_factor_required, got {other:?}"),
    }
}

async fn answer(auth: &AuthService, token: &str, factor: SecondFactor) -> Result<TokenPair, ServiceError> {
    auth.complete_login(SecondStep { challenge_token: token.into(), factor, client: client() }).await
}

fn totp(code: String) -> SecondFactor {
    SecondFactor::Totp(code)
}

#[tokio::test]
async fn a_totp_code_opens_one_session_once_and_only_near_now() {
    let auth = alice_with(generous()).await;
    let (secret, codes, _) = with_totp(&auth).await;
    assert_eq!(codes.len(), 10);

    let token = challenge(&auth).await;
    let stale = answer(&auth, &token, totp(code(&secret, -60))).await;
    assert!(matches!(stale, Err(ServiceError::InvalidSecondFactor)), "two steps old: {stale:?}");
    let ahead = answer(&auth, &token, totp(code(&secret, 60))).await;
    assert!(matches!(ahead, Err(ServiceError::InvalidSecondFactor)), "two steps ahead: {ahead:?}");
    let next = code(&secret, 30);
    let pair = answer(&auth, &token, totp(next.clone())).await.unwrap();
    let who = auth.authenticate(&pair.access_token).await.unwrap();
    let sessions = auth.sessions(&who).await.unwrap();
    assert!(sessions.iter().any(|s| s.current && s.device_name == "phone"), "{sessions:?}");

    let reused = answer(&auth, &token, totp(code(&secret, 30))).await;
    assert!(matches!(reused, Err(ServiceError::InvalidChallenge)), "challenge reuse: {reused:?}");
    let token = challenge(&auth).await;
    let replay = answer(&auth, &token, totp(next)).await;
    assert!(matches!(replay, Err(ServiceError::InvalidSecondFactor)), "code replay: {replay:?}");
    let older = answer(&auth, &token, totp(code(&secret, 0))).await;
    assert!(
        matches!(older, Err(ServiceError::InvalidSecondFactor)),
        "a step before the last used: {older:?}"
    );
}

#[tokio::test]
async fn a_recovery_code_works_once_and_ends_every_other_session() {
    let auth = alice_with(generous()).await;
    let (_, codes, first) = with_totp(&auth).await;
    let token = challenge(&auth).await;
    let typed = codes[3].to_uppercase().replace('-', " ");
    let pair = answer(&auth, &token, SecondFactor::RecoveryCode(typed)).await.unwrap();
    let who = auth.authenticate(&pair.access_token).await.unwrap();
    assert!(auth.authenticate_session(&first).await.is_err(), "the session that enrolled ended");
    assert_eq!(auth.factors(&who).await.unwrap().recovery_codes_left, 9);

    let token = challenge(&auth).await;
    let again = answer(&auth, &token, SecondFactor::RecoveryCode(codes[3].clone())).await;
    assert!(matches!(again, Err(ServiceError::InvalidSecondFactor)), "{again:?}");
    let events = auth.audit_events(&who, None, 50).await.unwrap();
    let used = events.iter().find(|e| e.kind == "recovery_code_used").expect("recorded");
    assert_eq!(used.detail["codes_left"], 9);
    assert_eq!(used.address, "198.51.100.0/24");
}

#[tokio::test]
async fn wrong_codes_spend_the_same_throttle_as_wrong_passwords() {
    let per_account = ThrottlePolicy { per_account: 4, per_address: 100, window: Duration::from_secs(60) };
    let auth = alice_with(per_account).await;
    let (secret, _, _) = with_totp(&auth).await;
    let token = challenge(&auth).await;
    for _ in 0..4 {
        let wrong = answer(&auth, &token, totp("000000".into())).await;
        assert!(matches!(wrong, Err(ServiceError::InvalidSecondFactor | ServiceError::InvalidChallenge)));
    }
    let limited = answer(&auth, &token, totp(code(&secret, 30))).await;
    assert!(matches!(limited, Err(ServiceError::RateLimited { .. })), "{limited:?}");
    let password = login(&auth, "phone").await;
    assert!(matches!(password, Err(ServiceError::RateLimited { .. })), "{password:?}");
}

#[tokio::test]
async fn a_challenge_dies_after_five_wrong_answers_a_password_change_or_its_time() {
    let store = sqlite().await;
    let auth = alice_on(&store, generous()).await;
    let (secret, _, who) = with_totp(&auth).await;
    let token = challenge(&auth).await;
    for _ in 0..5 {
        let _ = answer(&auth, &token, totp("000000".into())).await;
    }
    let dead = answer(&auth, &token, totp(code(&secret, 30))).await;
    assert!(matches!(dead, Err(ServiceError::InvalidChallenge)), "after five wrong answers: {dead:?}");

    let token = challenge(&auth).await;
    let change = super::CredentialChange {
        current_auth_hash: PASSWORD.to_vec(),
        new_auth_hash: PASSWORD.to_vec(),
        new_salt: vec![8; 16],
        iterations: 1000,
        client: client(),
    };
    auth.change_credentials(&who, change).await.unwrap();
    let voided = answer(&auth, &token, totp(code(&secret, 30))).await;
    assert!(matches!(voided, Err(ServiceError::InvalidChallenge)), "after a password change: {voided:?}");

    let token = challenge(&auth).await;
    sqlx::query("UPDATE ceremonies SET expires_at = 0").execute(store.pool()).await.unwrap();
    let expired = answer(&auth, &token, totp(code(&secret, 30))).await;
    assert!(matches!(expired, Err(ServiceError::InvalidChallenge)), "expired: {expired:?}");
    let unknown = answer(&auth, "not-a-challenge", totp(code(&secret, 30))).await;
    assert!(matches!(unknown, Err(ServiceError::InvalidChallenge)));
}

#[tokio::test]
async fn factor_changes_need_the_password_and_end_the_other_sessions() {
    let auth = alice_with(generous()).await;
    let other = principal(&auth, "desktop").await;
    let who = principal(&auth, "laptop").await;
    let wrong = auth.totp_begin(&who, vec![9; 32], client()).await;
    assert!(matches!(wrong, Err(ServiceError::InvalidCredentials)), "{wrong:?}");
    let enrolment = auth.totp_begin(&who, PASSWORD.to_vec(), client()).await.unwrap();
    assert!(login(&auth, "x").await.is_ok(), "an unconfirmed enrolment is not asked for");
    let bad = auth.totp_confirm(&who, "123456", client()).await;
    assert!(matches!(bad, Err(ServiceError::InvalidSecondFactor)), "{bad:?}");
    auth.totp_confirm(&who, &code(&enrolment.secret, 0), client()).await.unwrap();
    assert!(auth.authenticate_session(&other).await.is_err(), "other sessions end at enrolment");
    assert!(auth.authenticate_session(&who).await.is_ok(), "the enrolling session stays");
    let twice = auth.totp_begin(&who, PASSWORD.to_vec(), client()).await;
    assert!(matches!(twice, Err(ServiceError::SecondFactorExists)), "{twice:?}");

    let status = auth.factors(&who).await.unwrap();
    assert!(status.totp && !status.totp_pending && status.recovery_codes_left == 10);
    auth.totp_remove(&who, PASSWORD.to_vec(), client()).await.unwrap();
    assert_eq!(auth.factors(&who).await.unwrap().recovery_codes_left, 0, "codes go with the last factor");
    assert!(login(&auth, "x").await.is_ok(), "no second factor any more");
    let kinds: Vec<String> =
        auth.audit_events(&who, None, 50).await.unwrap().into_iter().map(|e| e.kind).collect();
    for kind in
        ["totp_enrolment_started", "totp_enabled", "totp_disabled", "second_factor_failed", "login_succeeded"]
    {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing from {kinds:?}");
    }
}

#[tokio::test]
async fn sessions_are_listed_and_ended_by_their_owner_only() {
    let auth = alice_with(generous()).await;
    auth.register(registration("bob", None)).await.unwrap();
    let phone = principal(&auth, "phone").await;
    let laptop = principal(&auth, "laptop").await;
    let mut listed = auth.sessions(&laptop).await.unwrap();
    assert_eq!(listed.len(), 2);
    // Newest first; two logins in the same millisecond may come either way.
    listed.sort_by(|a, b| a.device_name.cmp(&b.device_name));
    assert_eq!((listed[0].device_name.as_str(), listed[0].current), ("laptop", true));
    assert_eq!((listed[1].device_name.as_str(), listed[1].current), ("phone", false));
    assert_eq!(listed[1].address, "198.51.100.0/24");

    let bob = bob(&auth).await;
    let foreign = auth.end_session(&bob, phone.session_id, client()).await;
    assert!(matches!(foreign, Err(ServiceError::NotFound)), "{foreign:?}");
    assert!(auth.authenticate_session(&phone).await.is_ok());
    auth.end_session(&laptop, phone.session_id, client()).await.unwrap();
    assert!(auth.authenticate_session(&phone).await.is_err());
    let again = auth.end_session(&laptop, phone.session_id, client()).await;
    assert!(matches!(again, Err(ServiceError::NotFound)), "already ended");

    let _third = principal(&auth, "tablet").await;
    assert_eq!(auth.end_other_sessions(&laptop, client()).await.unwrap(), 1);
    assert_eq!(auth.sessions(&laptop).await.unwrap().len(), 1);
    let events = auth.audit_events(&laptop, None, 2).await.unwrap();
    assert_eq!(events[0].kind, "other_sessions_ended");
    let older = auth.audit_events(&laptop, Some(events[1].id), 50).await.unwrap();
    assert!(older.iter().all(|e| e.id < events[1].id) && !older.is_empty());
}

#[tokio::test]
async fn invite_only_registration_takes_each_unexpired_code_once() {
    let auth = auth_service_with(&sqlite().await, HOUR, generous(), RegistrationMode::Invite).await;
    let none = auth.register(registration("alice", None)).await;
    assert!(matches!(none, Err(ServiceError::InviteRequired)), "{none:?}");
    let bad = auth.register(registration("alice", Some("made-up"))).await;
    assert!(matches!(bad, Err(ServiceError::InvalidInvite)), "{bad:?}");
    let now = Timestamp::now();
    auth.store.create_invite(&invite_hash("good"), now, now.plus(HOUR)).await.unwrap();
    auth.store.create_invite(&invite_hash("old"), now, now.minus(Duration::from_secs(1))).await.unwrap();
    auth.register(registration("alice", Some(" good "))).await.unwrap();
    let reused = auth.register(registration("bob", Some("good"))).await;
    assert!(matches!(reused, Err(ServiceError::InvalidInvite)), "{reused:?}");
    let expired = auth.register(registration("bob", Some("old"))).await;
    assert!(matches!(expired, Err(ServiceError::InvalidInvite)), "{expired:?}");
    assert!(auth.store.user_by_username("bob").await.unwrap().is_none(), "nothing stored");

    let closed = auth_service_with(&sqlite().await, HOUR, generous(), RegistrationMode::Closed).await;
    let refused = closed.register(registration("carol", Some("good"))).await;
    assert!(matches!(refused, Err(ServiceError::RegistrationClosed)), "{refused:?}");
}

#[tokio::test]
async fn a_disabled_account_cannot_log_in_and_its_sessions_end() {
    let auth = alice_with(generous()).await;
    let who = principal(&auth, "laptop").await;
    assert!(auth.store.set_disabled(who.user_id, Some(Timestamp::now())).await.unwrap());
    let refused = login(&auth, "phone").await;
    assert!(matches!(refused, Err(ServiceError::AccountDisabled)), "{refused:?}");
    assert!(auth.store.live_sessions(who.user_id, Timestamp::now()).await.unwrap().is_empty());
    assert!(auth.store.set_disabled(who.user_id, None).await.unwrap());
    assert!(login(&auth, "phone").await.is_ok(), "enabled again");
}

#[tokio::test]
async fn old_audit_events_and_spent_ceremonies_are_pruned() {
    let store = sqlite().await;
    let auth = alice_on(&store, generous()).await;
    let who = principal(&auth, "laptop").await;
    let (secret, _, _) = with_totp(&auth).await;
    let _waiting = challenge(&auth).await;
    assert!(!auth.audit_events(&who, None, 50).await.unwrap().is_empty());
    let now = Timestamp::now();
    let kept = auth.store.prune_security(now.minus(HOUR), now).await.unwrap();
    assert_eq!(kept, 0, "nothing is old yet");
    sqlx::query("UPDATE ceremonies SET expires_at = 0").execute(store.pool()).await.unwrap();
    let later = now.plus(Duration::from_secs(1));
    let pruned = auth.store.prune_security(later, later).await.unwrap();
    assert!(pruned >= 5, "every event and the spent challenge: {pruned}");
    assert!(auth.audit_events(&who, None, 50).await.unwrap().is_empty());
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM ceremonies").fetch_one(store.pool()).await.unwrap();
    assert_eq!(left, 0);
    assert!(!secret.is_empty());
}

#[tokio::test]
async fn security_keys_are_named_renamed_and_removed_by_their_owner_only() {
    let auth = alice_with(generous()).await;
    auth.register(registration("bob", None)).await.unwrap();
    let other = principal(&auth, "desktop").await;
    let who = principal(&auth, "laptop").await;
    let key = crate::store::WebauthnCredential {
        id: uuid::Uuid::now_v7(),
        user_id: who.user_id,
        credential_id: vec![1, 2, 3],
        name: "YubiKey".into(),
        credential: "{}".into(),
        created_at: Timestamp::now(),
        last_used_at: None,
    };
    auth.store.add_webauthn_credential(&key).await.unwrap();
    let again = auth
        .store
        .add_webauthn_credential(&crate::store::WebauthnCredential {
            id: uuid::Uuid::now_v7(),
            ..key.clone()
        })
        .await;
    assert!(
        matches!(again, Err(crate::store::StoreError::Conflict(_))),
        "one authenticator, one registration"
    );
    auth.recovery_codes_renew(&who, PASSWORD.to_vec(), client()).await.unwrap();
    let listed = auth.factors(&who).await.unwrap();
    assert_eq!(
        (listed.webauthn.len(), listed.webauthn[0].name.as_str(), listed.recovery_codes_left),
        (1, "YubiKey", 10)
    );

    let renamed = auth.webauthn_rename(&who, key.id, "  Blue key ").await.unwrap();
    assert_eq!(renamed.name, "Blue key");
    let long = auth.webauthn_rename(&who, key.id, &"k".repeat(65)).await;
    assert!(matches!(long, Err(ServiceError::InvalidField { .. })), "{long:?}");
    let bob = bob(&auth).await;
    let foreign = auth.webauthn_rename(&bob, key.id, "mine now").await;
    assert!(matches!(foreign, Err(ServiceError::NotFound)), "{foreign:?}");
    let foreign = auth.webauthn_remove(&bob, key.id, PASSWORD.to_vec(), client()).await;
    assert!(matches!(foreign, Err(ServiceError::NotFound)), "{foreign:?}");
    let wrong = auth.webauthn_remove(&who, key.id, vec![9; 32], client()).await;
    assert!(matches!(wrong, Err(ServiceError::InvalidCredentials)), "{wrong:?}");

    auth.webauthn_remove(&who, key.id, PASSWORD.to_vec(), client()).await.unwrap();
    let left = auth.factors(&who).await.unwrap();
    assert!(left.webauthn.is_empty() && left.recovery_codes_left == 0, "codes go with the last factor");
    assert!(auth.authenticate_session(&other).await.is_err(), "removing a factor ends the other sessions");
    assert!(auth.authenticate_session(&who).await.is_ok());
    let kinds: Vec<String> =
        auth.audit_events(&who, None, 50).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(
        kinds.contains(&"webauthn_removed".to_owned())
            && kinds.contains(&"recovery_codes_renewed".to_owned()),
        "{kinds:?}"
    );
}
