//! `/api/v1/auth/*`: prelogin, register, login, refresh, session, logout, credentials.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use blindvault_wire::{
    CredentialsRequest, KdfParams as WireKdf, LoginRequest, PreloginRequest, RefreshRequest, RegisterRequest,
    SessionResponse, TokenResponse, UserResponse,
};

use super::bearer::{AccountScope, Authenticated};
use super::error::ApiError;
use super::extract::{ApiJson, ClientIp, b64};
use super::no_store::token_response;
use super::state::AppState;
use crate::service::{CredentialChange, KdfParams, Login, Registration};
use crate::telemetry::metrics::OutcomeLabels;

/// Routes under `/api/v1/auth`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/prelogin", post(prelogin))
        .route("/register", post(register))
        .route("/login", post(login))
        .route("/refresh", post(refresh))
        .route("/session", get(session))
        .route("/logout", post(logout))
        .route("/credentials", put(credentials))
        .route("/login/second-factor", post(super::sessions::second_factor))
        .route("/sessions", get(super::sessions::list).delete(super::sessions::end_others))
        .route("/sessions/{session_id}", axum::routing::delete(super::sessions::end_one))
}

#[utoipa::path(post, path = "/api/v1/auth/prelogin", tag = "auth", request_body = PreloginRequest,
    responses(
        (status = 200, description = "KDF parameters; an unknown username gets a stable decoy salt", body = WireKdf),
        (status = 503, description = "`unavailable`", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        super::responses::BodyErrors,
    ))]
pub(super) async fn prelogin(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<PreloginRequest>,
) -> Result<Json<WireKdf>, ApiError> {
    let kdf = app.auth.prelogin(&req.username).await?;
    // Stored iterations are at most 100,000,000 (see the auth service), well inside `u32`.
    let iterations = u32::try_from(kdf.iterations).unwrap_or(u32::MAX);
    Ok(Json(WireKdf { kdf: kdf.kdf, iterations, salt: kdf.salt }))
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered", body = UserResponse),
        (status = 403, description = "`registration_closed`, `invite_required` or `invalid_invite` (unknown, used or expired)", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        super::responses::BodyErrors,
    ))]
pub(super) async fn register(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let registration = Registration {
        username: req.username,
        auth_hash: b64("auth_hash", &req.auth_hash)?,
        kdf: KdfParams { kdf: req.kdf, iterations: req.iterations, salt: b64("salt", &req.salt)? },
        invite: req.invite,
    };
    let user = app.auth.register(registration).await?;
    let body =
        UserResponse { user_id: user.id, username: user.username, created_at: user.created_at.rfc3339() };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "A token pair", body = TokenResponse, headers(("Cache-Control" = String))),
        (status = 401, description = "`invalid_credentials` (wrong user and wrong hash alike), or `second_factor_required`: the password is right and the problem carries a challenge (members of SecondFactorChallenge) for `POST /auth/login/second-factor`", body = blindvault_wire::Problem, content_type = "application/problem+json",
         headers(("WWW-Authenticate" = String))),
        (status = 403, description = "`account_disabled` (after a right password)", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        (status = 503, description = "`unavailable` (hashing queue full or storage down)", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        super::responses::BodyErrors,
    ))]
pub(super) async fn login(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let login = Login {
        username: req.username,
        auth_hash: b64("auth_hash", &req.auth_hash)?,
        scope: req.scope,
        device_name: req.device_name,
        client,
    };
    let result = app.auth.login(login).await.map_err(ApiError::from);
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    };
    app.metrics.logins.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    Ok(token_response(result?))
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token stops working", body = TokenResponse),
        (status = 401, description = "`unauthenticated`, `token_expired`, or `token_revoked` (a reused token revokes its session)", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        super::responses::BodyErrors,
    ))]
pub(super) async fn refresh(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    Ok(token_response(app.auth.refresh(&req.refresh_token).await?))
}

#[utoipa::path(get, path = "/api/v1/auth/session", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The presented token's session", body = SessionResponse),
        super::responses::TokenErrors,
    ))]
pub(super) async fn session(
    State(app): State<AppState>,
    auth: Authenticated,
) -> Result<Json<SessionResponse>, ApiError> {
    let info = app.auth.session_info(&auth.principal).await?;
    Ok(Json(SessionResponse {
        user_id: info.user_id,
        username: info.username,
        session_id: info.session_id,
        scope: info.scope,
        expires_at: info.expires_at.rfc3339(),
    }))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "The session's tokens stop working"),
        super::responses::TokenErrors,
    ))]
pub(super) async fn logout(
    State(app): State<AppState>,
    auth: Authenticated,
    ClientIp(client): ClientIp,
) -> Result<StatusCode, ApiError> {
    app.auth.logout(&auth.principal, client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v1/auth/credentials", tag = "auth", security(("bearer" = ["account"])), request_body = CredentialsRequest,
    responses(
        (status = 204, description = "Changed; every other session of the user is revoked"),
        (status = 429, description = "`rate_limited`: too many wrong hashes for the account or from the address", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
    ))]
pub(super) async fn credentials(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<CredentialsRequest>,
) -> Result<StatusCode, ApiError> {
    let change = CredentialChange {
        client,
        current_auth_hash: b64("current_auth_hash", &req.current_auth_hash)?,
        new_auth_hash: b64("new_auth_hash", &req.new_auth_hash)?,
        new_salt: b64("new_salt", &req.new_salt)?,
        iterations: req.iterations,
    };
    app.auth.change_credentials(&auth.principal, change).await?;
    Ok(StatusCode::NO_CONTENT)
}
