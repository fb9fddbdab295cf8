use super::crypto::CryptoError;
use super::stream::DecryptError;

/// Why a client call failed. A 412 is [`ClientError::Conflict`], not a string.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server offered key-derivation parameters below this client's floor, or changed
    /// them from the ones pinned for the account: a server or proxy trying to weaken the key
    /// derivation. Nothing derived from them was sent.
    #[error(
        "refusing the server's key-derivation parameters ({0}): a server or proxy may be trying to \
         weaken the key derivation to brute-force the password; nothing was sent"
    )]
    WeakKdf(String),
    /// Plain `http://` to a host that is not loopback, without the opt-in.
    #[error(
        "refusing plain http:// to {0}: the network could read and rewrite everything; use https:// \
         (or opt in with --allow-insecure-http and BLINDVAULT_ALLOW_INSECURE_HTTP=1)"
    )]
    InsecureHttp(String),
    /// The server served an older revision than this client has seen, or other content under
    /// a revision it has seen: a rollback or a swap.
    #[error(
        "vault {vault_id}: {what}; the server may be rolling it back or swapping its content; nothing was written"
    )]
    Rollback {
        /// The vault.
        vault_id: String,
        /// What was inconsistent.
        what: String,
    },
    /// A resumable upload cannot go on without risking a nonce reuse or a vault that is not
    /// the file: the file changed since the upload began, or the server went back on what it
    /// acknowledged. Nothing was sent; the upload must be abandoned and a new one started
    /// (with a new salt and IV).
    #[error("this upload cannot continue safely: {0}; start a new upload")]
    CannotResume(String),
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
    /// The change feed no longer reaches back to the cursor: list the vaults afresh and
    /// follow the feed from a new cursor.
    #[error("the change log no longer reaches back to this cursor; list afresh")]
    CursorExpired,
    /// The password was right and the account has a second factor: answer the challenge
    /// (see `Client::begin_login`).
    #[error("this account has a second factor: the login needs a code ({})", .0.factors.join(", "))]
    SecondFactorRequired(Box<blindvault_wire::SecondFactorChallenge>),
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
            ClientError::SecondFactorRequired(_) => Some("second_factor_required"),
            _ => None,
        }
    }
}
