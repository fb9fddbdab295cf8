//! The blindvault client SDK: key derivation and encryption (`crypto`, byte for byte
//! `docs/CRYPTO.md`), streaming encryption (`stream`), a typed client of the HTTP contract
//! (`sdk`, `docs/API.md`), resumable uploads that never reuse a nonce (`resumable`, `sent`),
//! and what the client checks before it trusts the server (`verify`). Requests and responses
//! are the types of `blindvault-wire` (re-exported as [`wire`]), the ones the server answers with. It depends on no part
//! of the server: a program that stores vaults links only this crate. The `blindvault` CLI
//! and the test suite use it.

pub mod crypto;
mod direct;
mod error;
mod history;
pub mod resumable;
pub mod sdk;
mod security;
pub mod sent;
pub mod stream;
mod vaults;
pub mod verify;

pub use blindvault_wire as wire;
pub use error::ClientError;
pub use sdk::{Client, Precondition};
pub use security::{LoginStep, PendingLogin, SecondFactorAnswer};
