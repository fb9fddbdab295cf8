//! `/api/v1/account/second-factors/*`: TOTP, WebAuthn authenticators and recovery codes. Every
//! change needs the auth hash again and ends the caller's other sessions.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use blindvault_wire::{
    FactorsResponse, ReauthRequest, RecoveryCodesResponse, TotpConfirmRequest, TotpEnabledResponse,
    TotpEnrolmentResponse, WebauthnAddedResponse, WebauthnBeginRequest, WebauthnBeginResponse,
    WebauthnFinishRequest, WebauthnKeyEntry, WebauthnRenameRequest,
};
use uuid::Uuid;

use super::bearer::{AccountScope, Authenticated};
use super::error::ApiError;
use super::extract::{ApiJson, ClientIp, b64};
use super::state::AppState;
use crate::service::WebauthnKey;

/// Routes under `/api/v1/account/second-factors`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(status))
        .route("/totp", post(totp_begin).delete(totp_remove))
        .route("/totp/confirm", post(totp_confirm))
        .route("/recovery-codes", post(recovery_renew))
        .route("/webauthn", post(webauthn_begin))
        .route("/webauthn/finish", post(webauthn_finish))
        .route("/webauthn/{id}", delete(webauthn_remove).patch(webauthn_rename))
}

fn key_entry(key: WebauthnKey) -> WebauthnKeyEntry {
    WebauthnKeyEntry {
        id: key.id,
        name: key.name,
        created_at: key.created_at.rfc3339(),
        last_used_at: key.last_used_at.map(|t| t.rfc3339()),
    }
}

fn key_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found())
}

#[utoipa::path(get, path = "/api/v1/account/second-factors", tag = "second factors", security(("bearer" = ["account"])),
    responses(
        (status = 200, description = "What the caller has enabled", body = FactorsResponse),
        super::responses::TokenErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn status(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
) -> Result<Json<FactorsResponse>, ApiError> {
    let f = app.auth.factors(&auth.principal).await?;
    Ok(Json(FactorsResponse {
        totp: f.totp,
        totp_pending: f.totp_pending,
        recovery_codes_left: f.recovery_codes_left,
        webauthn: f.webauthn.into_iter().map(key_entry).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/account/second-factors/totp", tag = "second factors", security(("bearer" = ["account"])), request_body = ReauthRequest,
    responses(
        (status = 200, description = "A fresh secret, not yet enabled: confirm it with a first code", body = TotpEnrolmentResponse, headers(("Cache-Control" = String))),
        (status = 401, description = "`invalid_credentials`: wrong auth hash", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`second_factor_exists`: TOTP is enabled already", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::Throttled,
        super::responses::TokenErrors,
        super::responses::BodyErrors,
    ))]
pub(super) async fn totp_begin(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> Result<axum::response::Response, ApiError> {
    let enrolment = app.auth.totp_begin(&auth.principal, b64("auth_hash", &req.auth_hash)?, client).await?;
    let body = TotpEnrolmentResponse { secret: enrolment.secret, otpauth_uri: enrolment.otpauth_uri };
    Ok(super::no_store::no_store(Json(body)))
}

#[utoipa::path(post, path = "/api/v1/account/second-factors/totp/confirm", tag = "second factors", security(("bearer" = ["account"])), request_body = TotpConfirmRequest,
    responses(
        (status = 200, description = "TOTP is enabled, the other sessions ended; recovery codes (shown only now) when it is the account's first factor, else null", body = TotpEnabledResponse, headers(("Cache-Control" = String))),
        (status = 401, description = "`invalid_second_factor`: not the current code", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no enrolment is waiting", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::Throttled,
        super::responses::TokenErrors,
        super::responses::BodyErrors,
    ))]
pub(super) async fn totp_confirm(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<TotpConfirmRequest>,
) -> Result<axum::response::Response, ApiError> {
    let recovery_codes = app.auth.totp_confirm(&auth.principal, &req.code, client).await?;
    Ok(super::no_store::no_store(Json(TotpEnabledResponse { recovery_codes })))
}

#[utoipa::path(delete, path = "/api/v1/account/second-factors/totp", tag = "second factors", security(("bearer" = ["account"])), request_body = ReauthRequest,
    responses(
        (status = 204, description = "TOTP is off; the other sessions ended"),
        (status = 401, description = "`invalid_credentials`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::Throttled,
        (status = 404, description = "`not_found`: TOTP was not enabled", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
    ))]
pub(super) async fn totp_remove(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> Result<StatusCode, ApiError> {
    app.auth.totp_remove(&auth.principal, b64("auth_hash", &req.auth_hash)?, client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/account/second-factors/recovery-codes", tag = "second factors", security(("bearer" = ["account"])), request_body = ReauthRequest,
    responses(
        (status = 200, description = "New recovery codes; the old ones stop working", body = RecoveryCodesResponse, headers(("Cache-Control" = String))),
        (status = 401, description = "`invalid_credentials`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::Throttled,
        (status = 404, description = "`not_found`: no second factor is enabled", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
    ))]
pub(super) async fn recovery_renew(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> Result<axum::response::Response, ApiError> {
    let codes =
        app.auth.recovery_codes_renew(&auth.principal, b64("auth_hash", &req.auth_hash)?, client).await?;
    Ok(super::no_store::no_store(Json(RecoveryCodesResponse { recovery_codes: codes })))
}

#[utoipa::path(post, path = "/api/v1/account/second-factors/webauthn", tag = "second factors", security(("bearer" = ["account"])), request_body = WebauthnBeginRequest,
    responses(
        (status = 200, description = "Options for `navigator.credentials.create`", body = WebauthnBeginResponse),
        (status = 401, description = "`invalid_credentials`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
    ))]
pub(super) async fn webauthn_begin(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<WebauthnBeginRequest>,
) -> Result<Json<WebauthnBeginResponse>, ApiError> {
    let hash = b64("auth_hash", &req.auth_hash)?;
    let reg = app.auth.webauthn_begin(&auth.principal, hash, &req.name, client).await?;
    Ok(Json(WebauthnBeginResponse {
        registration_token: reg.registration_token,
        options: reg.options,
        expires_in: reg.expires_in,
    }))
}

#[utoipa::path(post, path = "/api/v1/account/second-factors/webauthn/finish", tag = "second factors", security(("bearer" = ["account"])), request_body = WebauthnFinishRequest,
    responses(
        (status = 201, description = "Registered; the other sessions ended", body = WebauthnAddedResponse),
        (status = 401, description = "`invalid_second_factor` (the answer does not verify) or `invalid_challenge`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`second_factor_exists`: this authenticator is registered already", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
    ))]
pub(super) async fn webauthn_finish(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<WebauthnFinishRequest>,
) -> Result<(StatusCode, axum::response::Response), ApiError> {
    let added =
        app.auth.webauthn_finish(&auth.principal, &req.registration_token, req.credential, client).await?;
    let body = WebauthnAddedResponse { key: key_entry(added.key), recovery_codes: added.recovery_codes };
    Ok((StatusCode::CREATED, super::no_store::no_store(Json(body))))
}

#[utoipa::path(delete, path = "/api/v1/account/second-factors/webauthn/{id}", tag = "second factors", security(("bearer" = ["account"])), request_body = ReauthRequest,
    params(("id" = Uuid, Path, description = "The authenticator's id")),
    responses(
        (status = 204, description = "Removed; the other sessions ended"),
        (status = 401, description = "`invalid_credentials`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::Throttled,
        (status = 404, description = "`not_found`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
    ))]
pub(super) async fn webauthn_remove(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ClientIp(client): ClientIp,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> Result<StatusCode, ApiError> {
    let id = key_id(&id)?;
    app.auth.webauthn_remove(&auth.principal, id, b64("auth_hash", &req.auth_hash)?, client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(patch, path = "/api/v1/account/second-factors/webauthn/{id}", tag = "second factors", security(("bearer" = ["account"])), request_body = WebauthnRenameRequest,
    params(("id" = Uuid, Path, description = "The authenticator's id")),
    responses(
        (status = 200, description = "Renamed", body = WebauthnKeyEntry),
        (status = 404, description = "`not_found`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
    ))]
pub(super) async fn webauthn_rename(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<WebauthnRenameRequest>,
) -> Result<Json<WebauthnKeyEntry>, ApiError> {
    let key = app.auth.webauthn_rename(&auth.principal, key_id(&id)?, &req.name).await?;
    Ok(Json(key_entry(key)))
}
