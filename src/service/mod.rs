//! The rules: authentication, sessions and accounts. No HTTP and no SQL here; handlers call
//! these functions and stores implement the traits they use.

mod auth;
mod changes;
mod decoy;
mod direct;
mod error;
mod feed;
mod hasher;
mod history;
mod readiness;
mod scope;
mod secrets;
mod sweeper;
mod throttle;
mod tokens;
mod trash;
mod upload_end;
mod uploads;
mod vault_write;
mod vaults;
mod waiters;

#[cfg(test)]
mod factor_tests;
#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod quota_tests;
#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod upload_tests;
#[cfg(test)]
mod vault_write_tests;

pub use auth::{
    AUTH_HASH_LEN, Actor, Audit, AuditView, AuthPolicy, AuthService, CHALLENGE_TTL, Challenge,
    CredentialChange, FactorKeys, FactorStatus, KDF_PBKDF2_SHA256, KdfParams, Login, MAX_EVENTS_PAGE,
    Principal, RECOVERY_CODES, Registration, RegistrationMode, SecondFactor, SecondStep, SessionInfo,
    SessionView, TOTP_STEP_SECONDS, TokenPair, TotpEnrolment, WebauthnAdded, WebauthnKey,
    WebauthnRegistration, invite_hash, normalize_username, totp_base32_decode, totp_code_for,
    truncate_address,
};
pub use changes::Changes;
pub use direct::{DIRECT_PART_SIZE, DirectCommit, DirectPart, part_count};
pub use error::{BodyTimedOut, ServiceError};
pub use feed::{FeedPage, MAX_WAIT};
pub use hasher::{HashCost, PasswordHasher, Verified};
pub use history::RevisionPage;
pub use readiness::{Checks, Readiness};
pub use scope::{Scope, Scopes};
pub use secrets::SecretsKey;
pub use sweeper::{SweepPolicy, SweepReport, SweepStats, Sweeper};
pub use throttle::{LoginThrottle, ThrottlePolicy};
pub use tokens::{Claims, TokenIssuer};
pub use trash::TrashPage;
pub use uploads::{Chunk, NewUpload, Patched};
pub use vault_write::{VaultWrite, Written};
pub use vaults::{Ciphertext, Page, VaultLimits, VaultService, VaultTiming, decode_cursor, encode_cursor};
pub use waiters::FeedWaiters;
