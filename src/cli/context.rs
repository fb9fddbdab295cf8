//! What every client command shares: where the server and the session are, the session
//! resumed from disk, and how errors and progress are shown.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::session::{Known, Saved, password};
use crate::client::crypto::{CryptoError, Keys, sealed_len};
use crate::client::stream::DecryptError;
use crate::client::{Client, ClientError, Precondition};

/// Where the server and the session are.
#[derive(Debug, Args)]
pub struct ClientOpts {
    /// Server URL (login and register; later commands use the logged-in server)
    #[arg(long, env = "BLINDVAULT_SERVER", default_value = "http://127.0.0.1:8080")]
    pub(super) server: String,
    /// Where the session is kept [default: $XDG_CONFIG_HOME/blindvault or ~/.config/blindvault]
    #[arg(long, env = "BLINDVAULT_CONFIG_DIR", value_name = "DIR")]
    pub(super) config_dir: Option<PathBuf>,
    /// Allow plain http:// to a host that is not loopback (anyone on the network could read
    /// and rewrite the traffic); also needs BLINDVAULT_ALLOW_INSECURE_HTTP=1
    #[arg(long)]
    allow_insecure_http: bool,
    #[arg(
        long = "allow-insecure-http-env",
        env = "BLINDVAULT_ALLOW_INSECURE_HTTP",
        hide = true,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    allow_insecure_http_env: bool,
    #[arg(long = "password-from-env", env = "BLINDVAULT_PASSWORD", hide = true, hide_env_values = true)]
    pub(super) password: Option<String>,
    /// The second factor at login (a TOTP code or a recovery code), for scripts
    #[arg(long = "totp-from-env", env = "BLINDVAULT_TOTP", hide = true, hide_env_values = true)]
    pub(super) totp: Option<String>,
    /// The name this machine's session shows in `blindvault sessions` [default: the host name]
    #[arg(long, env = "BLINDVAULT_DEVICE_NAME", value_name = "NAME")]
    pub(super) device_name: Option<String>,
    #[arg(
        long = "new-password-from-env",
        env = "BLINDVAULT_NEW_PASSWORD",
        hide = true,
        hide_env_values = true
    )]
    pub(super) new_password: Option<String>,
    /// Files at least this large are sent as resumable uploads: a dropped connection resumes
    /// by itself, and `put` of the same file after a crash continues where it stopped
    #[arg(long, env = "BLINDVAULT_RESUMABLE_ABOVE", default_value_t = 64 * 1024 * 1024, value_name = "BYTES")]
    pub(super) resumable_above: u64,
}

/// A client and the saved session it resumed.
pub(super) struct Session {
    pub(super) client: Client,
    pub(super) saved: Saved,
    /// What this machine trusts of the account.
    pub(super) known: Known,
}

impl ClientOpts {
    /// A client for `server`, plain HTTP off loopback only when both opt-ins are given.
    pub(super) fn connect(&self, server: &str) -> anyhow::Result<Client> {
        Ok(Client::connect(server, self.allow_insecure_http && self.allow_insecure_http_env)?)
    }
}

impl Session {
    /// Resumes the saved session. Refresh tokens are single-use, so the new one is saved at
    /// once: a command that fails later must not leave a spent token behind.
    pub(super) async fn resume(opts: &ClientOpts) -> anyhow::Result<Self> {
        let mut saved = Saved::load(&opts.config_dir)?;
        let client = opts.connect(&saved.server)?;
        client.resume(&saved.refresh_token).await.map_err(|e| match e.code() {
            Some("token_revoked" | "token_expired" | "unauthenticated") => {
                anyhow!("the session has ended; run `blindvault login {}`", saved.username)
            }
            _ => anyhow!(e),
        })?;
        saved.refresh_token = client.refresh_token().await.context("no session after refresh")?;
        saved.save(&opts.config_dir)?;
        let known = Known::load(&opts.config_dir, &saved.server, &saved.username)?;
        Ok(Self { client, saved, known })
    }

    /// The keys, from KDF parameters checked against the pinned ones. The pin moves only at
    /// login and `passwd`, where the server proved the parameters right by accepting the hash.
    pub(super) async fn keys(&self, opts: &ClientOpts) -> anyhow::Result<Keys> {
        let pw = password(opts.password.clone(), &format!("Password for {}: ", self.saved.username), false)?;
        let (keys, _) = self.client.keys(&self.saved.username, &pw, &self.known.pins()).await?;
        Ok(keys)
    }

    /// Saves the rotated refresh token and the ETags seen.
    pub(super) async fn save(mut self, opts: &ClientOpts) -> anyhow::Result<()> {
        self.checkpoint(opts).await
    }

    /// Saves what the session knows now, and goes on.
    pub(super) async fn checkpoint(&mut self, opts: &ClientOpts) -> anyhow::Result<()> {
        if let Some(token) = self.client.refresh_token().await {
            self.saved.refresh_token = token;
        }
        self.known.save(&opts.config_dir, &self.saved.server, &self.saved.username)?;
        self.saved.save(&opts.config_dir)
    }
}

/// One clear line for the errors a user can act on.
pub(super) fn plain(err: ClientError, id: &str) -> anyhow::Error {
    match err {
        ClientError::Conflict { .. } => anyhow!(
            "vault {id} changed on the server since this machine last saw it; nothing was changed \
             (run `blindvault get {id}` to see the current version)"
        ),
        ClientError::NotFound => anyhow!("there is no vault {id}"),
        err @ ClientError::Rollback { .. } => anyhow!(
            "{err} (if the vault was deleted and created again on another machine, `blindvault get {id} \
             --accept-revision` accepts what the server serves)"
        ),
        err @ (ClientError::Crypto(CryptoError::Tampered)
        | ClientError::Decrypt(DecryptError::Crypto(CryptoError::Tampered))) => {
            anyhow!("vault {id}: {err}; nothing was written")
        }
        ClientError::Crypto(CryptoError::OtherKey) => anyhow!(
            "vault {id} is under another key than this password gives: a wrong password, or an unfinished \
             `blindvault passwd` (run it again to finish)"
        ),
        other => anyhow!(other),
    }
}

/// What a write of `id` from this machine must find on the server.
pub(super) async fn precondition(session: &Session, id: &str, force: bool) -> anyhow::Result<Precondition> {
    Ok(match (session.saved.etags.get(id), session.client.head(id).await?) {
        (_, None) => Precondition::Absent,
        (Some(seen), Some(_)) => Precondition::Etag(seen.clone()),
        (None, Some(current)) if force => Precondition::Etag(current.etag),
        (None, Some(_)) => bail!(
            "vault {id} already exists and this machine has not read it; `blindvault get {id}` first, or pass --force"
        ),
    })
}

/// A progress bar on a terminal; nothing in a pipe.
pub(super) fn progress(plaintext_len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(plaintext_len.map_or(0, sealed_len));
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}") {
        bar.set_style(style);
    }
    bar
}
