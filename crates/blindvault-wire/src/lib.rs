//! The blindvault HTTP contract (`docs/API.md`) as Rust types, shared by the server and every
//! Rust client so that the two cannot drift apart: request and response bodies, the problem
//! body and its stable codes, entity tags, and the tus vocabulary of resumable uploads.
//!
//! Binary fields travel as standard padded base64 text and stay `String`s here: the server
//! decodes them itself, to name the field that does not decode. Only [`KdfParams`], which a
//! client keeps to pin an account's parameters, holds its salt decoded.
//!
//! With the `openapi` feature the types also describe themselves to `utoipa`; clients leave it
//! off and link serde, base64 and uuid only.

pub mod auth;
mod base64_text;
pub mod direct;
pub mod etag;
pub mod history;
pub mod problem;
pub mod security;
pub mod tus;
pub mod vaults;

pub use auth::{
    CredentialsRequest, DeleteAccountRequest, KdfParams, LoginRequest, PreloginRequest, RefreshRequest,
    RegisterRequest, SessionResponse, TokenResponse, UserResponse,
};
pub use direct::{
    DirectCommitRequest, DirectPartDone, DirectPartRequest, DirectPartResponse, DirectUploadRequest,
    DirectUploadResponse,
};
pub use history::{
    AccountResponse, ChangeEntry, ChangesResponse, RestoreRequest, RevisionList, TrashEntry, TrashList,
    UntrashRequest, Usage,
};
pub use problem::{Code, PROBLEM_JSON, Problem};
pub use security::{
    AuditEventEntry, AuditEventList, FactorsResponse, ReauthRequest, RecoveryCodesResponse,
    SecondFactorChallenge, SecondFactorRequest, SessionEntry, SessionList, SessionsEnded, TotpConfirmRequest,
    TotpEnabledResponse, TotpEnrolmentResponse, WebauthnAddedResponse, WebauthnBeginRequest,
    WebauthnBeginResponse, WebauthnFinishRequest, WebauthnKeyEntry, WebauthnRenameRequest,
};
pub use vaults::{CreateRequest, FullVault, ListResponse, ReplaceRequest, VaultResponse};

/// The path prefix of every route of this version of the contract.
pub const API_V1: &str = "/api/v1";

/// `text` with every byte but RFC 3986's unreserved ones percent-encoded: safe as one path
/// segment or one query value, whatever it holds.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
