//! The reference client: key derivation and encryption (`crypto`), streaming encryption
//! (`stream`), a typed SDK over the HTTP contract (`sdk`), and what the client checks before it
//! trusts the server (`verify`). The CLI and the tests use it.

pub mod crypto;
mod error;
pub mod resumable;
pub mod sdk;
pub mod sent;
pub mod stream;
mod vaults;
pub mod verify;

pub use error::ClientError;
pub use sdk::{Client, Precondition};
