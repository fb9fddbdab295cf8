//! Client subcommands: an account, and files in and out of encrypted vaults.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncRead, ReadBuf};

use super::session::{Known, Saved, password};
use crate::client::crypto::{CryptoError, Keys, sealed_len};
use crate::client::sdk::DEFAULT_ITERATIONS;
use crate::client::stream::DecryptError;
use crate::client::verify::VaultSeen;
use crate::client::{Client, ClientError, Precondition};

/// Where the server and the session are.
#[derive(Debug, Args)]
pub struct ClientOpts {
    /// Server URL (login and register; later commands use the logged-in server)
    #[arg(long, env = "BLINDVAULT_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
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

/// The client subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create an account and log in (the password never leaves this machine)
    Register {
        /// Username: 3 to 64 of a-z 0-9 . _ @ + -
        username: String,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Log in and keep the session for later commands
    Login {
        /// Username
        username: String,
        /// Accept other key-derivation parameters than this machine saw for the account (after
        /// a password change on another machine); the minimums still hold
        #[arg(long)]
        trust_new_kdf: bool,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// End the session on the server and forget it here
    Logout {
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Show who is logged in
    Whoami {
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// List your vaults
    Ls {
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Encrypt a file (or - for stdin) and store it as a vault
    Put {
        /// The file
        file: PathBuf,
        /// Vault id [default: the file name]
        #[arg(long)]
        vault: Option<String>,
        /// Replace the vault even if this machine has not seen its current revision
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Fetch and decrypt a vault
    Get {
        /// Vault id
        id: String,
        /// Output file [default: stdout]
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Accept whatever revision the server serves, even one older than this machine has
        /// seen (after the vault was deleted and created again on another machine)
        #[arg(long)]
        accept_revision: bool,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Delete a vault
    Rm {
        /// Vault id
        id: String,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Change the password: re-encrypt every vault under the new key, then switch
    Passwd {
        #[command(flatten)]
        opts: ClientOpts,
    },
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

/// Runs a client command.
pub async fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Register { username, opts } => {
            let pw = password(opts.password.clone(), "New password: ", true)?;
            let client = opts.connect(&opts.server)?;
            let username = username.to_ascii_lowercase();
            let kdf = client.register(&username, &pw, DEFAULT_ITERATIONS).await?;
            let known = Known { kdf: Some(kdf), ..Known::default() };
            known.save(&opts.config_dir, &opts.server, &username)?;
            login(&client, &opts, &username, &pw, false).await?;
            eprintln!("registered and logged in as {username}");
        }
        ClientCommand::Login { username, trust_new_kdf, opts } => {
            let pw = password(opts.password.clone(), &format!("Password for {username}: "), false)?;
            let client = opts.connect(&opts.server)?;
            login(&client, &opts, &username.to_ascii_lowercase(), &pw, trust_new_kdf).await?;
            eprintln!("logged in as {username}");
        }
        ClientCommand::Logout { opts } => {
            if let Ok(session) = Session::resume(&opts).await {
                session.client.logout().await?;
            }
            Saved::forget(&opts.config_dir)?;
            eprintln!("logged out");
        }
        ClientCommand::Whoami { opts } => {
            let session = Session::resume(&opts).await?;
            let me = session.client.whoami().await?;
            println!(
                "{} ({}) at {}",
                me["username"].as_str().unwrap_or("?"),
                me["user_id"].as_str().unwrap_or("?"),
                session.saved.server
            );
            session.save(&opts).await?;
        }
        ClientCommand::Ls { opts } => {
            let session = Session::resume(&opts).await?;
            for v in session.client.list().await? {
                println!("{:<40} {:>14} rev {:<5} {}", v.vault_id, v.size, v.revision, v.updated_at);
            }
            session.save(&opts).await?;
        }
        ClientCommand::Put { file, vault, force, opts } => put(&opts, &file, vault, force).await?,
        ClientCommand::Get { id, output, accept_revision, opts } => {
            super::get::get(&opts, &id, output.as_deref(), accept_revision).await?
        }
        ClientCommand::Rm { id, opts } => {
            let mut session = Session::resume(&opts).await?;
            let seen = session.saved.etags.get(&id).cloned();
            session.client.delete(&id, seen.as_deref()).await.map_err(|e| plain(e, &id))?;
            session.saved.etags.remove(&id);
            session.known.vaults.remove(&id);
            session.save(&opts).await?;
            eprintln!("deleted {id}");
        }
        ClientCommand::Passwd { opts } => super::passwd::run(&opts).await?,
    }
    Ok(())
}

/// Logs in with the KDF parameters checked against the pinned ones (unless `trust_new_kdf`),
/// and pins what was accepted.
async fn login(
    client: &Client,
    opts: &ClientOpts,
    username: &str,
    pw: &str,
    trust_new_kdf: bool,
) -> anyhow::Result<()> {
    let mut known = Known::load(&opts.config_dir, &opts.server, username)?;
    let pinned = if trust_new_kdf { Vec::new() } else { known.pins() };
    let (_, kdf) = client.login(username, pw, &pinned).await.map_err(|e| match e.code() {
        Some("invalid_credentials") => anyhow!("wrong username or password"),
        _ => anyhow!(e),
    })?;
    if known.next_kdf.as_ref() == Some(&kdf) {
        known.next_kdf = None;
    }
    known.kdf = Some(kdf);
    known.save(&opts.config_dir, &opts.server, username)?;
    let refresh_token = client.refresh_token().await.context("no session after login")?;
    let saved = Saved {
        server: opts.server.clone(),
        username: username.to_owned(),
        refresh_token,
        ..Saved::default()
    };
    saved.save(&opts.config_dir)
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

async fn put(opts: &ClientOpts, file: &Path, vault: Option<String>, force: bool) -> anyhow::Result<()> {
    let id = match vault {
        Some(id) => id,
        None => {
            file.file_name().and_then(|n| n.to_str()).context("give the vault id with --vault")?.to_owned()
        }
    };
    let mut session = Session::resume(opts).await?;
    let keys = session.keys(opts).await?;
    if file != Path::new("-") {
        let len =
            tokio::fs::metadata(file).await.with_context(|| format!("cannot open {}", file.display()))?.len();
        if len >= opts.resumable_above {
            return super::resume::put(session, opts, &keys, &id, file, force).await;
        }
    }
    let precondition = precondition(&session, &id, force).await?;
    let (reader, len): (Box<dyn AsyncRead + Unpin + Send>, Option<u64>) = if file == Path::new("-") {
        (Box::new(tokio::io::stdin()), None)
    } else {
        let f =
            tokio::fs::File::open(file).await.with_context(|| format!("cannot open {}", file.display()))?;
        let len = f.metadata().await?.len();
        (Box::new(f), Some(len))
    };
    let bar = progress(len);
    let counted = Counting { inner: reader, bar: bar.clone() };
    let info =
        session.client.put_stream(&keys, &id, counted, &precondition).await.map_err(|e| plain(e, &id))?;
    bar.finish_and_clear();
    session.saved.etags.insert(id.clone(), info.etag.clone());
    session.known.seen(&id, &VaultSeen::new(info.revision, &info.etag, None));
    session.save(opts).await?;
    eprintln!("stored {id}: revision {}, {} bytes encrypted", info.revision, info.size);
    Ok(())
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

/// Counts bytes read into a progress bar.
struct Counting<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.bar.inc(read as u64);
        poll
    }
}
