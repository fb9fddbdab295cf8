//! Bearer-token authentication as an extractor; the scope a route needs is part of its type.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use super::state::AppState;
use crate::service::{Principal, Scope, ServiceError};

/// The scope a route requires, as a type.
pub trait RequiredScope: Send + Sync {
    /// `None`: any valid token will do.
    const SCOPE: Option<Scope>;
}

/// Any scope.
pub struct AnyScope;
impl RequiredScope for AnyScope {
    const SCOPE: Option<Scope> = None;
}

/// The `account` scope.
pub struct AccountScope;
impl RequiredScope for AccountScope {
    const SCOPE: Option<Scope> = Some(Scope::Account);
}

/// The `vault:read` scope.
pub struct ReadScope;
impl RequiredScope for ReadScope {
    const SCOPE: Option<Scope> = Some(Scope::VaultRead);
}

/// The `vault:write` scope.
pub struct WriteScope;
impl RequiredScope for WriteScope {
    const SCOPE: Option<Scope> = Some(Scope::VaultWrite);
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

/// A caller authenticated by `Authorization: Bearer <access token>` whose token carries
/// scope `S`. Rejects with 401 (no, bad, expired or revoked token) or 403 (scope).
pub struct Authenticated<S: RequiredScope = AnyScope> {
    /// Who the token speaks for.
    pub principal: Principal,
    _scope: PhantomData<S>,
}

impl<S: RequiredScope> FromRequestParts<AppState> for Authenticated<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(ServiceError::Unauthenticated)?;
        let principal = state.auth.authenticate(token).await?;
        if let Some(scope) = S::SCOPE {
            principal.scopes.require(scope)?;
        }
        Ok(Self { principal, _scope: PhantomData })
    }
}
