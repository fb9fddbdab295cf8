use std::time::Duration;

use thiserror::Error;

use crate::store::StoreError;

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
    /// Too many failed logins; retry after the given time.
    #[error("too many failed logins")]
    RateLimited {
        /// When the client may try again.
        retry_after: Duration,
    },
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
        ServiceError::InvalidField {
            field,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => ServiceError::Unavailable(Box::new(err)),
            StoreError::Conflict("username") => ServiceError::UsernameTaken,
            other => ServiceError::Internal(other.into()),
        }
    }
}
