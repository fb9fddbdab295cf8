//! The vocabulary every layer shares: vaults and their ids, uploads, preconditions, instants,
//! byte ranges, history, the trash and the change log.
//! Plain data and the rules that need nothing else; no HTTP, no SQL, no I/O. The store
//! decides how these are kept (its row mapping is private to it), the api how they are shown.

mod history;
mod precondition;
mod timestamp;
mod upload;
mod vault;

pub use history::{ChangeKind, ChangesSince, LoggedChange, NewChange, Retention, TrashEntry};
pub use precondition::Precondition;
pub use timestamp::Timestamp;
pub use upload::{DIRECT_COMMITTED, DIRECT_PENDING, Upload};
pub use vault::{InvalidVaultId, Vault, VaultId};

/// A half-open range of byte offsets in an object.
pub type ByteRange = std::ops::Range<u64>;

/// The error of a byte stream (a request body on its way to storage, an object on its way out).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
