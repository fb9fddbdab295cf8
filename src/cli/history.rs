//! `blindvault history | restore | trash | untrash | purge | watch`: a vault's earlier
//! revisions, the trash, and the change feed, on the SDK's checks (a restore sends its receipt;
//! a trash restore under another id sends the rename receipt; the feed's order is checked).

use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Subcommand;

use super::context::{ClientOpts, Session, plain};
use crate::client::ClientError;
use crate::client::wire::TrashEntry;

/// History, trash and feed subcommands.
#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// List a vault's revisions the server keeps, newest first
    History {
        /// Vault id
        id: String,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Make an earlier revision's content the vault's newest revision (nothing is re-uploaded)
    Restore {
        /// Vault id
        id: String,
        /// The revision to restore (see `blindvault history ID`)
        revision: u64,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// List deleted vaults the server keeps in its trash
    Trash {
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Bring a vault back from the trash
    Untrash {
        /// The trash entry's id, or the deleted vault's id when only one entry has it
        entry: String,
        /// Restore under this vault id instead (when a new vault took the old one's)
        #[arg(long = "as", value_name = "ID")]
        as_id: Option<String>,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Delete a vault in the trash for good, with its history
    Purge {
        /// The trash entry's id, or the deleted vault's id when only one entry has it
        entry: String,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Print changes to your vaults as they happen, one line each, until interrupted
    Watch {
        /// Start after this cursor (a line's first field) instead of now
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        opts: ClientOpts,
    },
}

/// Runs a history command.
pub async fn run(command: HistoryCommand) -> anyhow::Result<()> {
    match command {
        HistoryCommand::History { id, opts } => {
            let session = Session::resume(&opts).await?;
            let revisions = session.client.revisions(&id).await.map_err(|e| plain(e, &id))?;
            for (i, v) in revisions.iter().enumerate() {
                let current = if i == 0 { "  (current)" } else { "" };
                println!("rev {:<6} {:>14} {}  {}{current}", v.revision, v.size, v.updated_at, v.etag);
            }
            session.save(&opts).await?;
        }
        HistoryCommand::Restore { id, revision, opts } => {
            let mut session = Session::resume(&opts).await?;
            let keys = session.keys(&opts).await?;
            let known = session.known.vaults.get(&id).cloned();
            let (made, seen) = session
                .client
                .restore(&keys, &id, revision, known.as_ref())
                .await
                .map_err(|e| plain(e, &id))?;
            session.saved.etags.insert(id.clone(), made.etag.clone());
            session.known.seen(&id, &seen);
            session.save(&opts).await?;
            eprintln!("restored {id} revision {revision} as revision {}", made.revision);
        }
        HistoryCommand::Trash { opts } => {
            let session = Session::resume(&opts).await?;
            for e in session.client.trash().await? {
                println!(
                    "{}  {:<40} {:>14} rev {:<5} deleted {}  purged {}",
                    e.trash_id, e.vault.vault_id, e.vault.size, e.vault.revision, e.deleted_at, e.expires_at
                );
            }
            session.save(&opts).await?;
        }
        HistoryCommand::Untrash { entry, as_id, opts } => {
            let mut session = Session::resume(&opts).await?;
            let keys = session.keys(&opts).await?;
            let found = find(&session, &entry).await?;
            let back =
                session.client.untrash(&keys, &found, as_id.as_deref()).await.map_err(|e| match e {
                    ClientError::Api { code, .. } if code == "vault_exists" => anyhow!(
                        "a vault {} exists again; bring this one back under another id with --as NEW_ID",
                        found.vault.vault_id
                    ),
                    other => plain(other, &found.vault.vault_id),
                })?;
            // What this machine knew of a vault under the restored id was of another one.
            session.known.vaults.remove(&back.vault_id);
            session.saved.etags.insert(back.vault_id.clone(), back.etag.clone());
            session.save(&opts).await?;
            eprintln!(
                "restored {} from the trash as {} (revision {})",
                found.vault.vault_id, back.vault_id, back.revision
            );
        }
        HistoryCommand::Purge { entry, opts } => {
            let session = Session::resume(&opts).await?;
            let found = find(&session, &entry).await?;
            session.client.purge(&found.trash_id).await?;
            session.save(&opts).await?;
            eprintln!("purged {} ({}) for good", found.vault.vault_id, found.trash_id);
        }
        HistoryCommand::Watch { since, opts } => watch(&opts, since).await?,
    }
    Ok(())
}

/// The trash entry `wanted` names: by trash id, or by vault id when exactly one entry has it.
async fn find(session: &Session, wanted: &str) -> anyhow::Result<TrashEntry> {
    let entries = session.client.trash().await?;
    if let Some(entry) = entries.iter().find(|e| e.trash_id == wanted) {
        return Ok(entry.clone());
    }
    let named: Vec<_> = entries.into_iter().filter(|e| e.vault.vault_id == wanted).collect();
    match named.len() {
        0 => Err(anyhow!("nothing in the trash is {wanted}")),
        1 => Ok(named.into_iter().next().expect("one")),
        n => Err(anyhow!("{n} entries in the trash were {wanted}: name one by its id (`blindvault trash`)")),
    }
}

/// Follows the change feed, printing `cursor kind vault_id revision etag` per change.
async fn watch(opts: &ClientOpts, since: Option<String>) -> anyhow::Result<()> {
    let mut session = Session::resume(opts).await?;
    let mut cursor = match since {
        Some(c) => c,
        None => session.client.changes(None, Duration::ZERO).await?.cursor,
    };
    session.checkpoint(opts).await?;
    eprintln!("watching for changes after {cursor} (Ctrl-C to stop)");
    loop {
        let page = match session.client.changes(Some(&cursor), Duration::from_secs(30)).await {
            Ok(page) => page,
            Err(ClientError::CursorExpired) => {
                return Err(anyhow!(
                    "the server no longer has changes after {cursor}: run `blindvault ls`, then `blindvault watch`"
                ));
            }
            Err(e) => return Err(e).context("following the change feed"),
        };
        for c in &page.changes {
            let revision = c.revision.map_or_else(|| "-".into(), |r| r.to_string());
            println!(
                "{} {} {} {} {}",
                c.cursor,
                c.kind,
                c.vault_id,
                revision,
                c.etag.as_deref().unwrap_or("-")
            );
        }
        cursor = page.cursor;
        // The session's refresh token rotates while watching: keep the latest one.
        session.checkpoint(opts).await?;
    }
}
