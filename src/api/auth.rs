//! `/api/v1/auth/*`: prelogin, register, login, refresh, session, logout, credentials.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bearer::{AccountScope, Authenticated};
use super::error::ApiError;
use super::extract::{ApiJson, ClientIp, b64, to_b64};
use super::state::AppState;
use crate::service::{CredentialChange, KdfParams, Login, Registration, TokenPair};
use crate::store::Timestamp;
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreloginRequest {
    username: String,
}

#[derive(Serialize)]
struct PreloginResponse {
    kdf: String,
    iterations: u64,
    salt: String,
}

async fn prelogin(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<PreloginRequest>,
) -> Result<Json<PreloginResponse>, ApiError> {
    let kdf = app.auth.prelogin(&req.username).await?;
    Ok(Json(PreloginResponse { kdf: kdf.kdf, iterations: kdf.iterations, salt: to_b64(&kdf.salt) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    username: String,
    auth_hash: String,
    salt: String,
    kdf: String,
    iterations: u64,
}

#[derive(Serialize)]
struct UserResponse {
    user_id: Uuid,
    username: String,
    created_at: Timestamp,
}

async fn register(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let registration = Registration {
        username: req.username,
        auth_hash: b64("auth_hash", &req.auth_hash)?,
        kdf: KdfParams { kdf: req.kdf, iterations: req.iterations, salt: b64("salt", &req.salt)? },
    };
    let user = app.auth.register(registration).await?;
    let body = UserResponse { user_id: user.id, username: user.username, created_at: user.created_at };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    auth_hash: String,
    scope: Option<String>,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    scope: String,
}

/// Token responses must not be cached (RFC 6749 section 5.1).
fn token_response(pair: TokenPair) -> Response {
    let body = TokenResponse {
        access_token: pair.access_token,
        token_type: "Bearer",
        expires_in: pair.expires_in,
        refresh_token: pair.refresh_token,
        scope: pair.scope,
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn login(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let login = Login {
        username: req.username,
        auth_hash: b64("auth_hash", &req.auth_hash)?,
        scope: req.scope,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    Ok(token_response(app.auth.refresh(&req.refresh_token).await?))
}

#[derive(Serialize)]
struct SessionResponse {
    user_id: Uuid,
    username: String,
    session_id: Uuid,
    scope: String,
    expires_at: Timestamp,
}

async fn session(
    State(app): State<AppState>,
    auth: Authenticated,
) -> Result<Json<SessionResponse>, ApiError> {
    let info = app.auth.session_info(&auth.principal).await?;
    Ok(Json(SessionResponse {
        user_id: info.user_id,
        username: info.username,
        session_id: info.session_id,
        scope: info.scope,
        expires_at: info.expires_at,
    }))
}

async fn logout(State(app): State<AppState>, auth: Authenticated) -> Result<StatusCode, ApiError> {
    app.auth.logout(&auth.principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsRequest {
    current_auth_hash: String,
    new_auth_hash: String,
    new_salt: String,
    iterations: u64,
}

async fn credentials(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ApiJson(req): ApiJson<CredentialsRequest>,
) -> Result<StatusCode, ApiError> {
    let change = CredentialChange {
        current_auth_hash: b64("current_auth_hash", &req.current_auth_hash)?,
        new_auth_hash: b64("new_auth_hash", &req.new_auth_hash)?,
        new_salt: b64("new_salt", &req.new_salt)?,
        iterations: req.iterations,
    };
    app.auth.change_credentials(&auth.principal, change).await?;
    Ok(StatusCode::NO_CONTENT)
}
