use std::time::Duration;

use thiserror::Error;

use crate::domain::InvalidVaultId;
use crate::store::{BlobStoreError, StoreError};

/// The error a request body's stream yields when the client stopped sending within the body
/// timeout. The HTTP layer, which knows its timeouts, puts it there; the service only
/// recognises it (as [`ServiceError::BodyTimeout`]), so it needs to know nothing of the server.
#[derive(Debug, Error)]
#[error("the request body stopped arriving within the body timeout")]
pub struct BodyTimedOut;

/// Whether `err`, or any error under it, is [`BodyTimedOut`].
fn body_timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(err), |e| e.source()).any(|e| e.is::<BodyTimedOut>())
}

/// What the password step hands back when a second factor must complete the login.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Single use; presented to `POST /auth/login/second-factor`.
    pub token: String,
    /// Seconds it is accepted for.
    pub expires_in: u64,
    /// What may answer it: `totp`, `webauthn`, `recovery_code`.
    pub factors: Vec<&'static str>,
    /// WebAuthn request options (`publicKey` for `navigator.credentials.get`), when an
    /// authenticator is registered.
    pub webauthn: Option<serde_json::Value>,
}

/// Why a service operation was refused or failed. The API layer maps each variant to one
/// status and stable problem `code`.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// A value parses but is out of range or not allowed (`422 invalid_field`).
    #[error("{field}: {message}")]
    InvalidField {
        /// The offending field, as the client named it.
        field: &'static str,
        /// What is wrong, for humans.
        message: String,
    },
    /// Wrong username or auth hash, indistinguishably.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// No usable bearer token.
    #[error("authentication required")]
    Unauthenticated,
    /// The access token has expired.
    #[error("token expired")]
    TokenExpired,
    /// The token's session was ended (logout, credential change, token theft).
    #[error("token revoked")]
    TokenRevoked,
    /// The token lacks the scope the operation needs.
    #[error("insufficient scope: {0} required")]
    InsufficientScope(&'static str),
    /// Registration is closed by configuration.
    #[error("registration is closed")]
    RegistrationClosed,
    /// The username is taken.
    #[error("username taken")]
    UsernameTaken,
    /// Registration needs an invite code and none was given.
    #[error("an invite is required")]
    InviteRequired,
    /// The invite code is unknown, used or expired.
    #[error("invalid invite")]
    InvalidInvite,
    /// The password was right; a second factor must complete the login.
    #[error("second factor required")]
    SecondFactorRequired(Box<Challenge>),
    /// The second factor's code or assertion is wrong (or was used before).
    #[error("invalid second factor")]
    InvalidSecondFactor,
    /// The login challenge is unknown, used, expired, or voided by a credential change.
    #[error("invalid challenge")]
    InvalidChallenge,
    /// An operator has disabled the account.
    #[error("account disabled")]
    AccountDisabled,
    /// The factor is enabled already (remove it first).
    #[error("second factor exists")]
    SecondFactorExists,
    /// Too many failed logins; retry after the given time.
    #[error("too many failed logins")]
    RateLimited {
        /// When the client may try again.
        retry_after: Duration,
    },
    /// No such vault (or not the caller's).
    #[error("not found")]
    NotFound,
    /// A vault with that id exists with other content (`POST`).
    #[error("vault exists")]
    VaultExists,
    /// A trash entry cannot come back under an id a live vault has; that vault's etag.
    #[error("vault id taken")]
    VaultIdTaken {
        /// The live vault's etag (unquoted).
        current: String,
    },
    /// The vault is not at the revision the precondition names; its current etag, if any.
    #[error("precondition failed")]
    PreconditionFailed {
        /// The current etag (unquoted), when the vault exists.
        current: Option<String>,
    },
    /// The body passed a size limit; nothing was stored.
    #[error("payload too large")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The write would pass the user's quota; nothing was stored.
    #[error("quota exceeded")]
    QuotaExceeded {
        /// What ran out.
        what: &'static str,
    },
    /// The requested byte range lies outside the vault.
    #[error("range not satisfiable")]
    RangeNotSatisfiable {
        /// The vault's size.
        size: u64,
    },
    /// The request body broke off before its end; nothing was stored.
    #[error("request body incomplete")]
    IncompleteBody,
    /// A resumable-upload chunk does not start where the upload stands.
    #[error("upload offset mismatch")]
    OffsetMismatch {
        /// Where the upload stands.
        current: u64,
    },
    /// Another request is appending to the same upload (or committing it).
    #[error("upload busy")]
    UploadBusy,
    /// The object store cannot take direct uploads (local files, or turned off).
    #[error("direct uploads unavailable")]
    DirectUnavailable,
    /// A direct upload's parts are not what the object store holds; nothing was committed.
    #[error("parts mismatch: {0}")]
    PartsMismatch(String),
    /// A chunk's `Upload-Checksum` does not match its bytes; the chunk was discarded.
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// The request body sent nothing for longer than the body read timeout; nothing was stored.
    #[error("request body timed out")]
    BodyTimeout,
    /// A change-feed cursor older than what the log keeps (or unknown to it): list afresh.
    #[error("cursor expired")]
    CursorExpired,
    /// The hashing queue is full.
    #[error("server saturated")]
    Saturated,
    /// A dependency (database, object store) is down.
    #[error("dependency unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A bug or an unexpected failure; details go to the log only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    /// An internal error with a message for the log.
    pub fn internal(message: impl Into<String>) -> Self {
        ServiceError::Internal(anyhow::Error::msg(message.into()))
    }

    /// An `invalid_field` error.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::InvalidField { field, message: message.into() }
    }
}

impl From<InvalidVaultId> for ServiceError {
    fn from(err: InvalidVaultId) -> Self {
        ServiceError::invalid("vault_id", err.to_string())
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) | StoreError::Shared { unavailable: true, .. } => {
                ServiceError::Unavailable(Box::new(err))
            }
            StoreError::Conflict("username") => ServiceError::UsernameTaken,
            other => ServiceError::Internal(other.into()),
        }
    }
}

impl From<BlobStoreError> for ServiceError {
    fn from(err: BlobStoreError) -> Self {
        match err {
            BlobStoreError::TooLarge { limit } => ServiceError::TooLarge { limit },
            BlobStoreError::Body(e) if body_timed_out(e.as_ref()) => ServiceError::BodyTimeout,
            BlobStoreError::Body(_) => ServiceError::IncompleteBody,
            BlobStoreError::Io(e) => ServiceError::Unavailable(Box::new(e)),
            BlobStoreError::NotFound => {
                ServiceError::Internal(anyhow::anyhow!("a committed vault object is missing"))
            }
            BlobStoreError::RangeNotSatisfiable => ServiceError::RangeNotSatisfiable { size: 0 },
            BlobStoreError::Unavailable(_) => ServiceError::Unavailable(Box::new(err)),
            BlobStoreError::Config(message) => ServiceError::internal(message),
        }
    }
}
