//! Account security at rest: sessions as their owner sees them, second factors, login
//! ceremonies, the audit trail, invites and what an operator administers.

use async_trait::async_trait;
use uuid::Uuid;

use super::{NewAuditEvent, Session, StoreError};
use crate::domain::Timestamp;

/// A TOTP factor as stored: the secret sealed under the server's secrets key.
#[derive(Debug, Clone)]
pub struct TotpFactor {
    /// Nonce and AES-256-GCM ciphertext of the secret.
    pub secret_sealed: Vec<u8>,
    /// Set by the first code; until then the factor is not asked for at login.
    pub confirmed_at: Option<Timestamp>,
    /// The newest time step a code was accepted for.
    pub last_step: i64,
}

/// A short-lived, single-use step shared by every replica: the second half of a login, or a
/// WebAuthn registration.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// SHA-256 of the token the client holds.
    pub token_hash: Vec<u8>,
    /// `login` or `webauthn_register`.
    pub kind: String,
    /// Whose.
    pub user_id: Uuid,
    /// The user's security stamp when it began: a credential change in between voids it.
    pub stamp: i64,
    /// Login: the scopes asked for.
    pub scope: String,
    /// Login: the device name asked for.
    pub device_name: String,
    /// Where it began (truncated).
    pub address: String,
    /// Server-side state of a WebAuthn ceremony (JSON), if any.
    pub state: Option<String>,
    /// Wrong answers so far.
    pub failures: i64,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

/// One entry of an account's audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Increasing; the pagination cursor.
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// What happened (`login_succeeded`, `session_ended`, ...).
    pub kind: String,
    /// The session it happened in or to, if any.
    pub session_id: Option<Uuid>,
    /// Where the request came from, truncated; empty for the operator's commands.
    pub address: String,
    /// A JSON object with details (never a token, hash or code).
    pub detail: String,
}

/// An account as the operator's `admin users` lists it.
#[derive(Debug, Clone)]
pub struct UserSummary {
    /// Id.
    pub id: Uuid,
    /// Username.
    pub username: String,
    /// Registered.
    pub created_at: Timestamp,
    /// Set while the account is disabled.
    pub disabled_at: Option<Timestamp>,
    /// Live vaults.
    pub vaults: i64,
    /// Bytes of live vaults.
    pub bytes: i64,
    /// Live sessions.
    pub sessions: i64,
    /// Whether a TOTP factor is confirmed.
    pub totp: bool,
    /// WebAuthn authenticators registered.
    pub webauthn: i64,
    /// Quota overrides.
    pub quota_bytes: Option<i64>,
    /// Quota overrides.
    pub quota_vaults: Option<i64>,
}

/// A WebAuthn authenticator registered as a second factor.
#[derive(Debug, Clone)]
pub struct WebauthnCredential {
    /// Our id for it (in URLs).
    pub id: Uuid,
    /// Whose.
    pub user_id: Uuid,
    /// The authenticator's credential id.
    pub credential_id: Vec<u8>,
    /// The name its owner gave it.
    pub name: String,
    /// The stored credential (the WebAuthn library's JSON).
    pub credential: String,
    /// Registered.
    pub created_at: Timestamp,
    /// Last used to log in.
    pub last_used_at: Option<Timestamp>,
}

/// Sessions by owner, second factors and ceremonies. Every check-and-change here is one atomic
/// statement or transaction, so that two replicas racing on the same code or token see exactly
/// one success.
#[async_trait]
pub trait FactorStore: Send + Sync + 'static {
    /// The user's live sessions, newest first.
    async fn live_sessions(&self, user: Uuid, now: Timestamp) -> Result<Vec<Session>, StoreError>;
    /// Ends `user`'s live session `id`; false when there is none such.
    async fn end_session(&self, user: Uuid, id: Uuid, now: Timestamp) -> Result<bool, StoreError>;
    /// Ends every live session of `user` but `keep` (none: all); how many.
    async fn end_sessions(&self, user: Uuid, keep: Option<Uuid>, now: Timestamp) -> Result<u64, StoreError>;
    /// Records that `session` was used (coarse: at refresh).
    async fn touch_session(&self, session: Uuid, now: Timestamp) -> Result<(), StoreError>;

    /// The user's TOTP factor, confirmed or not.
    async fn totp(&self, user: Uuid) -> Result<Option<TotpFactor>, StoreError>;
    /// Stores an unconfirmed TOTP secret, replacing an unconfirmed one; false when a confirmed
    /// factor exists (nothing changes).
    async fn begin_totp(&self, user: Uuid, sealed: &[u8], now: Timestamp) -> Result<bool, StoreError>;
    /// Confirms the pending factor with the code of `step`, stores the recovery codes when given
    /// (replacing any) and ends the user's other sessions, at once; false when nothing was pending.
    async fn confirm_totp(
        &self,
        user: Uuid,
        step: i64,
        recovery: Option<&[Vec<u8>]>,
        keep: Uuid,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Accepts a code of `step` once: true when the confirmed factor had seen no code of this
    /// step or a later one (it now has).
    async fn accept_totp_step(&self, user: Uuid, step: i64) -> Result<bool, StoreError>;
    /// Removes the TOTP factor (and the recovery codes when no factor is left) and ends the
    /// user's other sessions; false when there was none.
    async fn remove_totp(&self, user: Uuid, keep: Uuid, now: Timestamp) -> Result<bool, StoreError>;
    /// Replaces the recovery codes (SHA-256 of each).
    async fn replace_recovery_codes(&self, user: Uuid, hashes: &[Vec<u8>]) -> Result<(), StoreError>;
    /// Uses one recovery code; false when it is unknown or used.
    async fn use_recovery_code(&self, user: Uuid, hash: &[u8], now: Timestamp) -> Result<bool, StoreError>;
    /// Recovery codes not used yet.
    async fn recovery_codes_left(&self, user: Uuid) -> Result<i64, StoreError>;

    /// The user's WebAuthn authenticators, oldest first.
    async fn webauthn_credentials(&self, user: Uuid) -> Result<Vec<WebauthnCredential>, StoreError>;
    /// Registers one; `Conflict` when its credential id is registered already.
    async fn add_webauthn_credential(&self, cred: &WebauthnCredential) -> Result<(), StoreError>;
    /// Stores what an assertion updated (its counter) and when it was used.
    async fn webauthn_used(&self, id: Uuid, credential: &str, now: Timestamp) -> Result<(), StoreError>;
    /// Removes one of the user's and ends the user's other sessions; false when absent.
    async fn remove_webauthn_credential(
        &self,
        user: Uuid,
        id: Uuid,
        keep: Uuid,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Renames one of the user's; false when absent.
    async fn rename_webauthn_credential(&self, user: Uuid, id: Uuid, name: &str) -> Result<bool, StoreError>;

    /// Stores a new ceremony.
    async fn create_ceremony(&self, ceremony: &Ceremony, now: Timestamp) -> Result<(), StoreError>;
    /// The unused, unexpired ceremony of `kind` with this token hash.
    async fn ceremony(
        &self,
        token_hash: &[u8],
        kind: &str,
        now: Timestamp,
    ) -> Result<Option<Ceremony>, StoreError>;
    /// Marks it used; false when it was used already or expired (another request won).
    async fn finish_ceremony(&self, token_hash: &[u8], now: Timestamp) -> Result<bool, StoreError>;
    /// Counts a wrong answer; the count after it.
    async fn ceremony_failed(&self, token_hash: &[u8]) -> Result<i64, StoreError>;
}

/// The audit trail, invites, and what the operator administers.
#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    /// Appends to the user's audit trail.
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<(), StoreError>;
    /// The user's audit events, newest first, below `before` (an event id) if given.
    async fn audit_events(
        &self,
        user: Uuid,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// Deletes audit events older than `before` and spent ceremonies and invites; how many.
    async fn prune_security(&self, before: Timestamp, now: Timestamp) -> Result<u64, StoreError>;

    /// Stores an invite (SHA-256 of its code).
    async fn create_invite(
        &self,
        hash: &[u8],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Every account by username, or the one named `only`.
    async fn user_summaries(
        &self,
        now: Timestamp,
        only: Option<&str>,
    ) -> Result<Vec<UserSummary>, StoreError>;
    /// Disables (ending every session) or enables the account; false when there is no such user.
    async fn set_disabled(&self, user: Uuid, disabled: Option<Timestamp>) -> Result<bool, StoreError>;
    /// Removes every second factor of the account and its recovery codes, and ends its sessions
    /// (for a person who lost them, once the operator knows who they are); how many factors.
    async fn reset_factors(&self, user: Uuid, now: Timestamp) -> Result<u64, StoreError>;
    /// Sets the account's quota overrides (None: the deployment's); false when absent.
    async fn set_user_quota(
        &self,
        user: Uuid,
        bytes: Option<i64>,
        vaults: Option<i64>,
    ) -> Result<bool, StoreError>;
    /// Records a change for the serving processes' caches from a process that serves nothing
    /// (the operator's commands): NOTIFY on Postgres, a row the server polls on SQLite.
    async fn notify_servers(&self, payload: &str, now: Timestamp) -> Result<(), StoreError>;
}
