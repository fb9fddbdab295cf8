//! The vocabulary every layer shares: vaults and their ids, uploads, instants, byte ranges.
//! Plain data and the rules that need nothing else; no HTTP, no SQL, no I/O. The store
//! decides how these are kept (its row mapping is private to it), the api how they are shown.

mod timestamp;
mod upload;
mod vault;

pub use timestamp::Timestamp;
pub use upload::Upload;
pub use vault::{InvalidVaultId, Vault, VaultId};

/// A half-open range of byte offsets in an object.
pub type ByteRange = std::ops::Range<u64>;
