//! `/api/v1/changes`: the user's change log after a cursor, as JSON (with an optional wait
//! for the next change) or as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use blindvault_wire::history::{ChangesQuery, MAX_WAIT_SECONDS};
use blindvault_wire::{ChangeEntry, ChangesResponse};
use futures::Stream;
use uuid::Uuid;

use super::bearer::{Authenticated, ReadScope, bearer_token};
use super::error::ApiError;
use super::preconditions::single;
use super::state::AppState;
use crate::domain::LoggedChange;
use crate::service::{FeedPage, ServiceError};

/// Routes under `/api/v1/changes`.
pub fn router() -> Router<AppState> {
    Router::new().route("/", get(changes)).route("/stream", get(stream))
}

/// Changes per event batch of a stream.
const STREAM_BATCH: u32 = 100;

fn entry(c: &LoggedChange) -> ChangeEntry {
    ChangeEntry {
        cursor: c.seq.to_string(),
        kind: c.kind.as_str().to_owned(),
        vault_id: c.vault_id.clone(),
        revision: c.revision.map(|r| r.max(0) as u64),
        etag: c.etag.as_deref().map(blindvault_wire::etag::quote),
        trash_id: c.trash_id.map(|id| id.to_string()),
        at: c.at.rfc3339(),
    }
}

fn cursor(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|c| *c >= 0)
        .ok_or_else(|| ApiError::invalid_field("`since`: not a cursor this server issued"))
}

#[utoipa::path(get, path = "/api/v1/changes", tag = "history", security(("bearer" = ["vault:read"])), params(ChangesQuery),
    responses(
        (status = 200, description = "Changes after `since`, oldest first (none, and the newest cursor, without `since`)", body = ChangesResponse),
        (status = 410, description = "`cursor_expired`: the log was compacted past `since`; list the vaults afresh and follow from a new cursor", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn changes(
    State(app): State<AppState>,
    auth: Authenticated<ReadScope>,
    query: Result<Query<ChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ChangesResponse>, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::invalid_field("the query accepts `since`, `limit` (1 to 1000) and `wait` (0 to 60 seconds)")
    })?;
    let user = auth.principal.user_id;
    let Some(since) = query.since.as_deref() else {
        let head = app.vaults.change_head(user).await?;
        return Ok(Json(ChangesResponse { changes: Vec::new(), cursor: head.to_string(), more: false }));
    };
    let since = cursor(since)?;
    let wait = query.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECONDS {
        return Err(ApiError::invalid_field(format!("`wait`: at most {MAX_WAIT_SECONDS} seconds")));
    }
    let limit = query.limit.unwrap_or(100);
    let page = tokio::select! {
        page = app.vaults.changes(user, since, limit, Duration::from_secs(wait).min(app.settings.feed_max_wait)) => page?,
        // Stopping: answer now, as a wait that ended with nothing new.
        () = app.stopped() => FeedPage { changes: Vec::new(), cursor: since, more: false },
    };
    Ok(Json(ChangesResponse {
        changes: page.changes.iter().map(entry).collect(),
        cursor: page.cursor.to_string(),
        more: page.more,
    }))
}

#[utoipa::path(get, path = "/api/v1/changes/stream", tag = "history", security(("bearer" = ["vault:read"])),
    params(("since" = Option<String>, Query, description = "A cursor; without one (and without `Last-Event-ID`), only changes from now on"),
        ("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last event received: resumes after it (wins over `since`)")),
    responses(
        (status = 200, description = "`text/event-stream`: one `change` event per change (`id` = its cursor, `data` = a ChangeEntry), a comment line as heartbeat when idle; ends with an `end` event (`data` = the problem code) when the token expires or its session ends, or when the server stops", content_type = "text/event-stream"),
        (status = 410, description = "`cursor_expired`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn stream(
    State(app): State<AppState>,
    auth: Authenticated<ReadScope>,
    headers: HeaderMap,
    query: Result<Query<ChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|_| ApiError::invalid_field("the query accepts `since` only"))?;
    let user = auth.principal.user_id;
    let last_event = single(&headers, &axum::http::HeaderName::from_static("last-event-id"))?;
    let since = match last_event.or(query.since.as_deref()) {
        Some(raw) => cursor(raw)?,
        None => app.vaults.change_head(user).await?,
    };
    // An expired cursor is refused now, while the answer can still be a 410.
    app.vaults.changes(user, since, 1, Duration::ZERO).await?;
    let token = bearer_token(&headers).unwrap_or_default().to_owned();
    let heartbeat = app.settings.feed_heartbeat;
    let events = events(app, user, token, since);
    let mut response = Sse::new(events).keep_alive(KeepAlive::new().interval(heartbeat)).into_response();
    // Proxies that buffer responses (nginx) would hold the events back: ask them not to.
    response.headers_mut().insert("x-accel-buffering", axum::http::HeaderValue::from_static("no"));
    Ok(response)
}

/// Where a stream stands.
struct Follow {
    app: AppState,
    user: Uuid,
    token: String,
    cursor: i64,
    pending: std::collections::VecDeque<LoggedChange>,
    done: bool,
}

/// The events of a stream from `since`: each change once, in order, until the token stops
/// being good (checked before every wait), the cursor expires, or the server stops.
fn events(
    app: AppState,
    user: Uuid,
    token: String,
    since: i64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let start = Follow { app, user, token, cursor: since, pending: Default::default(), done: false };
    futures::stream::unfold(start, |mut f| async move {
        loop {
            if f.done {
                return None;
            }
            if let Some(change) = f.pending.pop_front() {
                let event =
                    Event::default().event("change").id(change.seq.to_string()).json_data(entry(&change));
                return Some((Ok(event.unwrap_or_default()), f));
            }
            if let Err(e) = f.app.auth.authenticate(&f.token).await {
                f.done = true;
                return Some((Ok(end(&ApiError::from(e))), f));
            }
            let next = tokio::select! {
                page = f.app.vaults.changes(f.user, f.cursor, STREAM_BATCH, f.app.settings.feed_max_wait) => page,
                () = f.app.stopped() => Err(ServiceError::Unavailable("the server is stopping".into())),
            };
            match next {
                Ok(page) => {
                    f.cursor = page.cursor;
                    f.pending.extend(page.changes);
                }
                Err(e) => {
                    f.done = true;
                    return Some((Ok(end(&ApiError::from(e))), f));
                }
            }
        }
    })
}

/// The last event of a stream: why it ended, as the problem code a request would get.
fn end(err: &ApiError) -> Event {
    Event::default().event("end").data(err.code())
}
