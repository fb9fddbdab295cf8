//! `blindvault admin ...`: the operator's commands, straight against the configured database
//! (in a pod of the deployment, or on the host of the embedded one). What they change reaches
//! every running server within a second: NOTIFY on Postgres, a polled row on SQLite.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use uuid::Uuid;

use crate::config::{Settings, parse_duration};
use crate::domain::Timestamp;
use crate::service::{Actor, Audit, invite_hash};
use crate::startup::open_store;
use crate::store::{Change, MetadataStore, UserSummary};

/// The operator's commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make a single-use invite code (for BLINDVAULT_REGISTRATION=invite); printed once
    Invite {
        /// How long the code works
        #[arg(long, default_value = "7d", value_parser = parse_duration, value_name = "DURATION")]
        expires: Duration,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// List every account
    Users {
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Show one account
    User {
        /// Username
        username: String,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Disable an account: no login or refresh, and its sessions end at once
    Disable {
        /// Username
        username: String,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Enable a disabled account again
    Enable {
        /// Username
        username: String,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Remove every second factor of an account and its recovery codes, and end its sessions
    /// (for a person who lost them: check who they are first); the password alone logs in
    ResetFactors {
        /// Username
        username: String,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Set an account's quotas in place of the deployment's (BLINDVAULT_QUOTA_*)
    Quota {
        /// Username
        username: String,
        /// Bytes the account may hold (live vaults, history, trash), or `default`
        #[arg(long, value_parser = parse_limit, value_name = "BYTES|default")]
        bytes: Option<Limit>,
        /// Vaults the account may hold, or `default`
        #[arg(long, value_parser = parse_limit, value_name = "N|default")]
        vaults: Option<Limit>,
        #[command(flatten)]
        settings: Box<Settings>,
    },
}

/// A quota given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// This many.
    At(i64),
    /// The deployment's.
    Default,
}

fn parse_limit(text: &str) -> Result<Limit, String> {
    match text {
        "default" => Ok(Limit::Default),
        _ => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Limit::At)
            .ok_or_else(|| "a number of at least 0, or `default`".to_owned()),
    }
}

impl AdminCommand {
    /// Where the database is.
    pub fn settings(&self) -> &Settings {
        match self {
            AdminCommand::Invite { settings, .. }
            | AdminCommand::Users { settings }
            | AdminCommand::User { settings, .. }
            | AdminCommand::Disable { settings, .. }
            | AdminCommand::Enable { settings, .. }
            | AdminCommand::ResetFactors { settings, .. }
            | AdminCommand::Quota { settings, .. } => settings,
        }
    }
}

/// Runs an admin command against the database its settings name.
pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    let store = open_store(command.settings()).await?.meta;
    let pending = store.pending_migrations().await?;
    if !pending.is_empty() {
        bail!("{} migration(s) pending: run `blindvault migrate` first", pending.len());
    }
    let now = Timestamp::now();
    match command {
        AdminCommand::Invite { expires, .. } => {
            let code = format!("bv-{}", hex(&rand::random::<[u8; 16]>()));
            store.create_invite(&invite_hash(&code), now, now.plus(expires)).await?;
            println!("{code}");
            eprintln!("single use, until {}", now.plus(expires).rfc3339());
        }
        AdminCommand::Users { .. } => {
            println!(
                "{:<32} {:<9} {:>7} {:>14} {:>8}  2FA",
                "USERNAME", "STATE", "VAULTS", "BYTES", "SESSIONS"
            );
            for user in store.user_summaries(now, None).await? {
                println!(
                    "{:<32} {:<9} {:>7} {:>14} {:>8}  {}",
                    user.username,
                    state(&user),
                    user.vaults,
                    user.bytes,
                    user.sessions,
                    factors(&user)
                );
            }
        }
        AdminCommand::User { username, .. } => {
            let user = summary(&*store, &username, now).await?;
            let quota = |v: Option<i64>| v.map_or_else(|| "deployment default".to_owned(), |n| n.to_string());
            println!("username      {}", user.username);
            println!("id            {}", user.id);
            println!("registered    {}", user.created_at.rfc3339());
            println!("state         {}", state(&user));
            println!("vaults        {} ({} bytes)", user.vaults, user.bytes);
            println!("sessions      {} live", user.sessions);
            println!("second factor {}", factors(&user));
            println!("quota bytes   {}", quota(user.quota_bytes));
            println!("quota vaults  {}", quota(user.quota_vaults));
        }
        AdminCommand::Disable { username, .. } => {
            let user = summary(&*store, &username, now).await?;
            store.set_disabled(user.id, Some(now)).await?;
            tell_servers(&*store, user.id, now).await?;
            Audit::new(store.clone())
                .record(user.id, "account_disabled", &Actor::operator(), serde_json::json!({}))
                .await;
            eprintln!("disabled {username}; {} session(s) ended", user.sessions);
        }
        AdminCommand::Enable { username, .. } => {
            let user = summary(&*store, &username, now).await?;
            store.set_disabled(user.id, None).await?;
            tell_servers(&*store, user.id, now).await?;
            Audit::new(store.clone())
                .record(user.id, "account_enabled", &Actor::operator(), serde_json::json!({}))
                .await;
            eprintln!("enabled {username}");
        }
        AdminCommand::ResetFactors { username, .. } => {
            let user = summary(&*store, &username, now).await?;
            let removed = store.reset_factors(user.id, now).await?;
            tell_servers(&*store, user.id, now).await?;
            let detail = serde_json::json!({ "factors_removed": removed });
            Audit::new(store.clone())
                .record(user.id, "second_factors_reset", &Actor::operator(), detail)
                .await;
            eprintln!(
                "{username}: {removed} second factor(s) and the recovery codes removed; every session ended"
            );
        }
        AdminCommand::Quota { username, bytes, vaults, .. } => {
            let user = summary(&*store, &username, now).await?;
            let pick = |given: Option<Limit>, current: Option<i64>| match given {
                None => current,
                Some(Limit::Default) => None,
                Some(Limit::At(n)) => Some(n),
            };
            let (bytes, vaults) = (pick(bytes, user.quota_bytes), pick(vaults, user.quota_vaults));
            store.set_user_quota(user.id, bytes, vaults).await?;
            tell_servers(&*store, user.id, now).await?;
            let detail = serde_json::json!({ "quota_bytes": bytes, "quota_vaults": vaults });
            Audit::new(store.clone()).record(user.id, "quota_changed", &Actor::operator(), detail).await;
            eprintln!("quota of {username}: bytes {bytes:?}, vaults {vaults:?} (None: the deployment's)");
        }
    }
    Ok(())
}

async fn summary(store: &dyn MetadataStore, username: &str, now: Timestamp) -> anyhow::Result<UserSummary> {
    let name = username.to_ascii_lowercase();
    store.user_summaries(now, Some(&name)).await?.pop().with_context(|| format!("no account named {name}"))
}

/// Drops the account's sessions and metadata from every running server's cache.
async fn tell_servers(store: &dyn MetadataStore, user: Uuid, now: Timestamp) -> anyhow::Result<()> {
    store.notify_servers(&Change::User(user).encode(), now).await.context("cannot notify the servers")
}

fn state(user: &UserSummary) -> &'static str {
    if user.disabled_at.is_some() { "disabled" } else { "active" }
}

fn factors(user: &UserSummary) -> String {
    let mut out = Vec::new();
    if user.totp {
        out.push("totp".to_owned());
    }
    if user.webauthn > 0 {
        out.push(format!("webauthn×{}", user.webauthn));
    }
    if out.is_empty() { "none".to_owned() } else { out.join(",") }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
