//! The reference client: key derivation and encryption (`crypto`), streaming encryption
//! (`stream`), and a typed SDK over the HTTP contract (`sdk`). The CLI and the tests use it.

pub mod crypto;
mod error;
pub mod resumable;
pub mod sdk;
pub mod stream;
mod vaults;

pub use error::ClientError;
pub use sdk::{Client, Precondition};
