//! Sessions as their owner sees them (and ends them), and the account's audit trail.

use std::net::IpAddr;

use uuid::Uuid;

use super::audit::Actor;
use super::{AuthService, Principal};
use crate::domain::Timestamp;
use crate::service::ServiceError;
use crate::store::Change;

/// Most audit events per page.
pub const MAX_EVENTS_PAGE: i64 = 200;

/// A live session as `GET /auth/sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// Id (for ending it).
    pub id: Uuid,
    /// The name the client gave at login (may be empty).
    pub device_name: String,
    /// Login time.
    pub created_at: Timestamp,
    /// Last refresh (coarse: access tokens are not counted).
    pub last_used_at: Timestamp,
    /// The network it logged in from (IPv4 /24, IPv6 /48).
    pub address: String,
    /// Granted scopes.
    pub scope: String,
    /// Whether it is the session of the token that asked.
    pub current: bool,
}

/// One audit event as the account's owner reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditView {
    /// Id, increasing; the cursor for the next page is the last one's.
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// What happened.
    pub kind: String,
    /// The session it happened in or to.
    pub session_id: Option<Uuid>,
    /// The network the request came from; empty for the operator's commands.
    pub address: String,
    /// Details (a JSON object).
    pub detail: serde_json::Value,
}

impl AuthService {
    /// The caller's live sessions, newest first.
    pub async fn sessions(&self, who: &Principal) -> Result<Vec<SessionView>, ServiceError> {
        let sessions = self.store.live_sessions(who.user_id, Timestamp::now()).await?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.id == who.session_id,
                id: s.id,
                device_name: s.device_name,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                address: s.address,
                scope: s.scope,
            })
            .collect())
    }

    /// Ends one of the caller's sessions (their own included); `NotFound` when it is not a
    /// live session of theirs. Every replica refuses its tokens within a second.
    pub async fn end_session(&self, who: &Principal, id: Uuid, client: IpAddr) -> Result<(), ServiceError> {
        if !self.store.end_session(who.user_id, id, Timestamp::now()).await? {
            return Err(ServiceError::NotFound);
        }
        self.changes.announce(Change::Session(id)).await;
        let actor = Actor::new(Some(who.session_id), client);
        self.audit.record(who.user_id, "session_ended", &actor, serde_json::json!({ "ended": id })).await;
        Ok(())
    }

    /// Ends every session of the caller's but the one asking; how many ended.
    pub async fn end_other_sessions(&self, who: &Principal, client: IpAddr) -> Result<u64, ServiceError> {
        let ended = self.store.end_sessions(who.user_id, Some(who.session_id), Timestamp::now()).await?;
        self.changes.announce(Change::User(who.user_id)).await;
        let actor = Actor::new(Some(who.session_id), client);
        self.audit
            .record(who.user_id, "other_sessions_ended", &actor, serde_json::json!({ "count": ended }))
            .await;
        Ok(ended)
    }

    /// The caller's audit events, newest first, older than event `before` when given.
    pub async fn audit_events(
        &self,
        who: &Principal,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditView>, ServiceError> {
        let events = self.store.audit_events(who.user_id, before, limit.clamp(1, MAX_EVENTS_PAGE)).await?;
        Ok(events
            .into_iter()
            .map(|e| AuditView {
                id: e.id,
                at: e.at,
                kind: e.kind,
                session_id: e.session_id,
                address: e.address,
                detail: serde_json::from_str(&e.detail).unwrap_or_else(|_| serde_json::json!({})),
            })
            .collect())
    }

    /// Records an event of the caller's account that another service carried out (vault
    /// deletes and purges, account deletion).
    pub async fn record(
        &self,
        who: &Principal,
        client: IpAddr,
        kind: &'static str,
        detail: serde_json::Value,
    ) {
        self.audit.record(who.user_id, kind, &Actor::new(Some(who.session_id), client), detail).await;
    }
}
