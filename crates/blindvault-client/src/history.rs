//! History operations of the [`Client`]: earlier revisions, restores (with their receipts),
//! the trash, the change feed and the account's usage (docs/API.md section 6).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blindvault_wire::history::{MAX_WAIT_SECONDS, revision_path, revisions_path};
use blindvault_wire::vaults::X_VAULT_SALT;
use blindvault_wire::{
    AccountResponse, ChangesResponse, RestoreRequest, RevisionList, TrashEntry, TrashList, UntrashRequest,
};
use reqwest::Method;
use tokio::io::AsyncWrite;

use super::crypto::Keys;
use super::error::ClientError;
use super::sdk::{Client, Downloaded, VaultInfo, header, ok};
use super::verify::VaultSeen;

impl Client {
    /// Every retained revision of a vault, newest first (the current one first of all).
    pub async fn revisions(&self, vault_id: &str) -> Result<Vec<VaultInfo>, ClientError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("{}?limit=1000", revisions_path(vault_id));
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", blindvault_wire::percent_encode(c)));
            }
            let page: RevisionList =
                ok(self.authed(Method::GET, &path).await?.send().await?).await?.json().await?;
            if page.items.iter().any(|v| v.vault_id != vault_id) {
                return Err(ClientError::Protocol("the revision list names another vault".into()));
            }
            all.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// Fetches and decrypts revision `revision` of a vault into `out`: refused unless the
    /// server answers with that revision of that vault.
    pub async fn get_revision<W>(
        &self,
        keys: &Keys,
        vault_id: &str,
        revision: u64,
        out: &mut W,
    ) -> Result<Downloaded, ClientError>
    where
        W: AsyncWrite + Unpin,
    {
        let path = revision_path(vault_id, revision);
        let (got, seen) = self.read_verified(keys, vault_id, &path, out, None, |_, _| {}).await?;
        if seen.revision != revision {
            return Err(ClientError::Rollback {
                vault_id: vault_id.to_owned(),
                what: format!("asked for revision {revision}, the server answered with {}", seen.revision),
            });
        }
        Ok(got)
    }

    /// Makes revision `revision`'s content the vault's newest revision, with the restore
    /// receipt that lets other devices accept it (docs/CRYPTO.md section 7). `known` is the
    /// newest revision this client has seen of the vault, if any: the restore applies only if
    /// the vault is still there (a 412 [`ClientError::Conflict`] otherwise). Returns the new
    /// revision and what to remember of it.
    pub async fn restore(
        &self,
        keys: &Keys,
        vault_id: &str,
        revision: u64,
        known: Option<&VaultSeen>,
    ) -> Result<(VaultInfo, VaultSeen), ClientError> {
        let current = self
            .revisions_page(vault_id, 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::Protocol("an empty revision list".into()))?;
        if let Some(known) = known {
            known.check(vault_id, &VaultSeen::new(current.revision, &current.etag, None))?;
        }
        let head =
            self.authed(Method::HEAD, &format!("{}/content", revision_path(vault_id, revision))).await?;
        let head = ok(head.send().await?).await?;
        let salt_b64 = header(head.headers(), X_VAULT_SALT)?;
        let salt = STANDARD.decode(&salt_b64).map_err(|_| ClientError::Protocol(X_VAULT_SALT.into()))?;
        let next = current.revision + 1;
        let receipt = keys.restore_receipt(vault_id, next, &salt);
        let body = RestoreRequest { receipt: Some(STANDARD.encode(receipt)) };
        let path = format!("{}/restore", revision_path(vault_id, revision));
        let req = self.authed(Method::POST, &path).await?.header("if-match", &current.etag).json(&body);
        let made: VaultInfo = ok(req.send().await?).await?.json().await?;
        if made.vault_id != vault_id || made.revision != next {
            return Err(ClientError::Protocol(format!(
                "the restore answered with revision {}",
                made.revision
            )));
        }
        let mut seen = VaultSeen::new(made.revision, &made.etag, Some(salt_b64));
        seen.vouched = true;
        let remember = known.map_or_else(|| seen.clone(), |k| k.advance(&seen));
        Ok((made, remember))
    }

    async fn revisions_page(&self, vault_id: &str, limit: u32) -> Result<Vec<VaultInfo>, ClientError> {
        let path = format!("{}?limit={limit}", revisions_path(vault_id));
        let page: RevisionList =
            ok(self.authed(Method::GET, &path).await?.send().await?).await?.json().await?;
        Ok(page.items)
    }

    /// Every vault in the trash, newest deletion first.
    pub async fn trash(&self) -> Result<Vec<TrashEntry>, ClientError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = "/api/v1/trash?limit=1000".to_owned();
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", blindvault_wire::percent_encode(c)));
            }
            let page: TrashList =
                ok(self.authed(Method::GET, &path).await?.send().await?).await?.json().await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// Brings `entry` back from the trash, under its own id or `as_id` (with the rename
    /// receipt, so that its content can be read under the new id).
    pub async fn untrash(
        &self,
        keys: &Keys,
        entry: &TrashEntry,
        as_id: Option<&str>,
    ) -> Result<VaultInfo, ClientError> {
        let original = entry.vault.written_as.as_deref().unwrap_or(&entry.vault.vault_id);
        let body = match as_id {
            Some(id) if id != entry.vault.vault_id => UntrashRequest {
                vault_id: Some(id.to_owned()),
                receipt: Some(STANDARD.encode(keys.rename_receipt(original, id))),
            },
            _ => UntrashRequest::default(),
        };
        let path = format!("/api/v1/trash/{}/restore", blindvault_wire::percent_encode(&entry.trash_id));
        let req = self.authed(Method::POST, &path).await?.json(&body);
        Ok(ok(req.send().await?).await?.json().await?)
    }

    /// Purges a trash entry now.
    pub async fn purge(&self, trash_id: &str) -> Result<(), ClientError> {
        let path = format!("/api/v1/trash/{}", blindvault_wire::percent_encode(trash_id));
        ok(self.authed(Method::DELETE, &path).await?.send().await?).await?;
        Ok(())
    }

    /// The changes after `since` (none and the newest cursor without one), waiting up to
    /// `wait` for one when there is none yet. [`ClientError::CursorExpired`] when the log no
    /// longer reaches back to `since`.
    pub async fn changes(&self, since: Option<&str>, wait: Duration) -> Result<ChangesResponse, ClientError> {
        let wait = wait.as_secs().min(MAX_WAIT_SECONDS);
        let path = match since {
            Some(c) => format!("/api/v1/changes?since={}&wait={wait}", blindvault_wire::percent_encode(c)),
            None => "/api/v1/changes".to_owned(),
        };
        // The answer may take the whole wait: the request's own timeout is longer.
        let req = self.authed(Method::GET, &path).await?.timeout(Duration::from_secs(wait + 30));
        let page: ChangesResponse = ok(req.send().await?).await?.json().await?;
        let position = |c: &str| c.parse::<u64>().ok();
        let mut last = since.and_then(position).unwrap_or(0);
        for change in &page.changes {
            let at = position(&change.cursor).filter(|p| *p > last).ok_or_else(|| {
                ClientError::Protocol(format!("change {} does not follow {last}", change.cursor))
            })?;
            last = at;
        }
        Ok(page)
    }

    /// The account and what it holds.
    pub async fn account(&self) -> Result<AccountResponse, ClientError> {
        Ok(ok(self.authed(Method::GET, "/api/v1/account").await?.send().await?).await?.json().await?)
    }
}
