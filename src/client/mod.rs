//! The reference client: key derivation and encryption (`crypto`), streaming encryption
//! (`stream`), and a typed SDK over the HTTP contract (`sdk`). The CLI and the tests use it.

pub mod crypto;
pub mod stream;
