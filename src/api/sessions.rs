//! `/api/v1/auth/sessions` (the caller's sessions, and ending them), the login's second step
//! `/api/v1/auth/login/second-factor`, and `/api/v1/account/events` (the audit trail).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use blindvault_wire::{
    AuditEventEntry, AuditEventList, SecondFactorRequest, SessionEntry, SessionList, SessionsEnded,
};
use uuid::Uuid;

use super::bearer::{AccountScope, Authenticated};
use super::error::ApiError;
use super::extract::{ApiJson, ClientIp};
use super::state::AppState;
use super::vault_http::PageQuery;
use crate::service::{MAX_EVENTS_PAGE, SecondFactor, SecondStep};
use crate::telemetry::metrics::OutcomeLabels;

#[utoipa::path(post, path = "/api/v1/auth/login/second-factor", tag = "auth", request_body = SecondFactorRequest,
    responses(
        (status = 200, description = "A token pair: the login is complete", body = blindvault_wire::TokenResponse, headers(("Cache-Control" = String))),
        (status = 401, description = "`invalid_second_factor` (wrong or reused code or assertion) or `invalid_challenge` (unknown, used, expired, or voided by a password change: log in again)", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: wrong codes count with wrong passwords, per account and per address", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        super::responses::BodyErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn second_factor(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<SecondFactorRequest>,
) -> Result<Response, ApiError> {
    let missing = |what: &str| ApiError::invalid_field(format!("`{what}` is required for this method"));
    let factor = match req.method.as_str() {
        "totp" => SecondFactor::Totp(req.code.ok_or_else(|| missing("code"))?),
        "recovery_code" => SecondFactor::RecoveryCode(req.code.ok_or_else(|| missing("code"))?),
        "webauthn" => SecondFactor::Webauthn(req.credential.ok_or_else(|| missing("credential"))?),
        _ => return Err(ApiError::invalid_field("`method` must be totp, recovery_code or webauthn")),
    };
    if req.challenge_token.len() > 128 {
        return Err(ApiError::invalid_field("`challenge_token` is too long"));
    }
    let step = SecondStep { challenge_token: req.challenge_token, factor, client };
    let result = app.auth.complete_login(step).await.map_err(ApiError::from);
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    };
    app.metrics.logins.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    Ok(super::no_store::token_response(result?))
}

#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = ["account"])),
    responses(
        (status = 200, description = "The caller's live sessions, newest first", body = SessionList),
        super::responses::TokenErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn list(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
) -> Result<Json<SessionList>, ApiError> {
    let sessions = app.auth.sessions(&auth.principal).await?;
    Ok(Json(SessionList {
        sessions: sessions
            .into_iter()
            .map(|s| SessionEntry {
                session_id: s.id,
                device_name: s.device_name,
                created_at: s.created_at.rfc3339(),
                last_used_at: s.last_used_at.rfc3339(),
                address: s.address,
                scope: s.scope,
                current: s.current,
            })
            .collect(),
    }))
}

#[utoipa::path(delete, path = "/api/v1/auth/sessions/{session_id}", tag = "auth", security(("bearer" = ["account"])),
    params(("session_id" = Uuid, Path, description = "From the sessions list")),
    responses(
        (status = 204, description = "Ended: its tokens are refused on every replica within a second"),
        (status = 404, description = "`not_found`: no live session of the caller's with this id", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn end_one(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ClientIp(client): ClientIp,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    app.auth.end_session(&auth.principal, id, client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = ["account"])),
    responses(
        (status = 200, description = "Every other session of the caller's ended", body = SessionsEnded),
        super::responses::TokenErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn end_others(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ClientIp(client): ClientIp,
) -> Result<Json<SessionsEnded>, ApiError> {
    let ended = app.auth.end_other_sessions(&auth.principal, client).await?;
    Ok(Json(SessionsEnded { ended }))
}

#[utoipa::path(get, path = "/api/v1/account/events", tag = "auth", security(("bearer" = ["account"])),
    params(
        ("limit" = Option<u32>, Query, description = "1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "The caller's audit trail, newest first", body = AuditEventList),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn events(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    PageQuery(query): PageQuery,
) -> Result<Json<AuditEventList>, ApiError> {
    let limit = i64::from(query.limit.unwrap_or(50));
    if !(1..=MAX_EVENTS_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field(format!("`limit` must be 1 to {MAX_EVENTS_PAGE}")));
    }
    let before = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| ApiError::invalid_field("`cursor` is not one this server gave"))?,
        ),
    };
    let events = app.auth.audit_events(&auth.principal, before, limit).await?;
    let next_cursor = match events.len() as i64 == limit {
        true => events.last().map(|e| e.id.to_string()),
        false => None,
    };
    let items = events
        .into_iter()
        .map(|e| AuditEventEntry {
            id: e.id,
            at: e.at.rfc3339(),
            kind: e.kind,
            session_id: e.session_id,
            address: e.address,
            detail: e.detail,
        })
        .collect();
    Ok(Json(AuditEventList { items, next_cursor }))
}
