use super::crypto::CryptoError;
use super::stream::DecryptError;

/// Why a client call failed. A 412 is [`ClientError::Conflict`], not a string.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused, with its problem `code`.
    #[error("{detail} ({code})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The stable problem code.
        code: String,
        /// The server's explanation.
        detail: String,
    },
    /// The vault changed since it was last seen (412); the server's current ETag.
    #[error("the vault changed on the server since this client last saw it")]
    Conflict {
        /// The current ETag, if the vault exists.
        current_etag: Option<String>,
    },
    /// No such vault.
    #[error("no such vault")]
    NotFound,
    /// Decryption failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Streaming decryption failed.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the server: {0}")]
    Http(#[from] reqwest::Error),
    /// A local file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// There is no session: log in first.
    #[error("not logged in")]
    NotLoggedIn,
    /// The server answered something this client does not understand.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The problem code, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            ClientError::Conflict { .. } => Some("precondition_failed"),
            ClientError::NotFound => Some("not_found"),
            _ => None,
        }
    }
}
