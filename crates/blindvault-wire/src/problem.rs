//! Every error of the API is an RFC 9457 problem with a stable, machine-readable `code`.

use serde::{Deserialize, Serialize};

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem: the body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// Stable, machine-readable: one of [`Code`], or a code of a newer server.
    pub code: String,
    /// For humans.
    pub detail: String,
    /// Members some problems add (e.g. `checks` of a failing readiness probe).
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    /// The problem of `code`, with its status and the status's reason phrase as title.
    pub fn new(code: Code, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: title.into(),
            status: code.status(),
            code: code.as_str().into(),
            detail: detail.into(),
            extra: serde_json::Map::new(),
        }
    }

    /// The code, when this client knows it.
    pub fn known_code(&self) -> Option<Code> {
        Code::parse(&self.code)
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal, $status:literal;)*) => {
        /// The stable codes of this version of the contract, each with the one status it is
        /// sent with. A client must expect codes it does not know (newer servers add some).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in the order of the contract.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as the `code` member carries it.
            pub const fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }

            /// The HTTP status the code is sent with.
            pub const fn status(self) -> u16 {
                match self { $(Code::$variant => $status,)* }
            }

            /// The code named `text`, if this version knows it.
            pub fn parse(text: &str) -> Option<Code> {
                match text { $($text => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    /// A header is malformed, repeated, or missing where required.
    InvalidHeader = "invalid_header", 400;
    /// A base64 field or header does not decode.
    InvalidBase64 = "invalid_base64", 400;
    /// The body is not JSON.
    MalformedJson = "malformed_json", 400;
    /// The body ended before its announced length; nothing was stored.
    IncompleteBody = "incomplete_body", 400;
    /// Unknown username or wrong auth hash (indistinguishable on purpose).
    InvalidCredentials = "invalid_credentials", 401;
    /// No valid bearer token.
    Unauthenticated = "unauthenticated", 401;
    /// The access token has expired: refresh it.
    TokenExpired = "token_expired", 401;
    /// The token's session has ended.
    TokenRevoked = "token_revoked", 401;
    /// The password was right and the account has a second factor: complete the login at
    /// `POST /auth/login/second-factor` with the problem's `challenge_token`.
    SecondFactorRequired = "second_factor_required", 401;
    /// The second factor's code or assertion is wrong or was used before.
    InvalidSecondFactor = "invalid_second_factor", 401;
    /// The login challenge is unknown, used, expired or voided: log in again.
    InvalidChallenge = "invalid_challenge", 401;
    /// The token lacks the scope the operation needs.
    InsufficientScope = "insufficient_scope", 403;
    /// This server does not accept new accounts.
    RegistrationClosed = "registration_closed", 403;
    /// This server accepts new accounts only with an invite code.
    InviteRequired = "invite_required", 403;
    /// The invite code is unknown, used or expired.
    InvalidInvite = "invalid_invite", 403;
    /// An operator has disabled this account.
    AccountDisabled = "account_disabled", 403;
    /// No such resource (also another user's).
    NotFound = "not_found", 404;
    /// The route exists, not with this method.
    MethodNotAllowed = "method_not_allowed", 405;
    /// The body sent nothing for too long.
    RequestTimeout = "request_timeout", 408;
    /// The username is taken.
    UsernameTaken = "username_taken", 409;
    /// A vault with this id exists with other content.
    VaultExists = "vault_exists", 409;
    /// The second factor is enabled already: remove it before enrolling again.
    SecondFactorExists = "second_factor_exists", 409;
    /// The object store cannot take direct uploads here (local files, or turned off): send the
    /// bytes through the gateway.
    DirectUnavailable = "direct_unavailable", 409;
    /// A direct upload's parts are not what the object store holds (missing, other ETags, or
    /// another length); nothing was committed.
    PartsMismatch = "parts_mismatch", 422;
    /// A tus `Upload-Offset` is not where the upload stands.
    OffsetMismatch = "offset_mismatch", 409;
    /// The vault is not at the expected revision; `ETag` is the current one.
    PreconditionFailed = "precondition_failed", 412;
    /// `Tus-Resumable` is missing or names another version.
    TusVersionUnsupported = "tus_version_unsupported", 412;
    /// The change-feed cursor is older than the log keeps: list the vaults afresh and follow
    /// the feed from the position that answer gives.
    CursorExpired = "cursor_expired", 410;
    /// The body is over a size limit.
    PayloadTooLarge = "payload_too_large", 413;
    /// The write would exceed the account's quota.
    QuotaExceeded = "quota_exceeded", 413;
    /// Not a JSON content type.
    UnsupportedMediaType = "unsupported_media_type", 415;
    /// The range lies outside the vault.
    RangeNotSatisfiable = "range_not_satisfiable", 416;
    /// A field parses but is out of range, unknown or missing.
    InvalidField = "invalid_field", 422;
    /// Another request is appending to this upload.
    UploadBusy = "upload_busy", 423;
    /// A replace without `If-Match` or `If-None-Match`.
    PreconditionRequired = "precondition_required", 428;
    /// Too many failed attempts; wait `Retry-After` seconds.
    RateLimited = "rate_limited", 429;
    /// A tus chunk does not match its `Upload-Checksum`; it was discarded.
    ChecksumMismatch = "checksum_mismatch", 460;
    /// The server failed; nothing about why is said.
    InternalError = "internal_error", 500;
    /// A dependency is down or the server is saturated; retry after `Retry-After`.
    Unavailable = "unavailable", 503;
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_and_is_an_error_status() {
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(*code));
            assert!((400..600).contains(&code.status()), "{code}");
        }
        assert_eq!(Code::parse("a_code_from_the_future"), None, "unknown codes stay text");
    }

    #[test]
    fn problem_round_trips_with_extra_members() {
        let text = r#"{"type":"about:blank","title":"Service Unavailable","status":503,"code":"unavailable","detail":"down","checks":{"db":"fail"}}"#;
        let problem: Problem = serde_json::from_str(text).unwrap();
        assert_eq!(problem.known_code(), Some(Code::Unavailable));
        assert_eq!(problem.extra["checks"]["db"], "fail");
        assert_eq!(
            serde_json::to_value(&problem).unwrap(),
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
    }
}
