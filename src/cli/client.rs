//! Client subcommands: an account, and files in and out of encrypted vaults.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, anyhow};
use clap::Subcommand;
use indicatif::ProgressBar;
use tokio::io::{AsyncRead, ReadBuf};

pub use super::context::ClientOpts;
use super::context::{Session, plain, precondition, progress};
use super::session::{Known, Saved, password};
use crate::client::sdk::DEFAULT_ITERATIONS;
use crate::client::verify::VaultSeen;
use crate::client::{Client, ClientError, LoginStep};

/// The client subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create an account and log in (the password never leaves this machine)
    Register {
        /// Username: 3 to 64 of a-z 0-9 . _ @ + -
        username: String,
        /// The invite code, where the server registers by invite only
        #[arg(long, env = "BLINDVAULT_INVITE", value_name = "CODE")]
        invite: Option<String>,
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
        /// An earlier revision the server keeps (see `blindvault history ID`) instead of the current one
        #[arg(long)]
        revision: Option<u64>,
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
    /// Delete a vault (into the server's trash, where it keeps one: see `blindvault trash`)
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
    #[command(flatten)]
    History(super::history::HistoryCommand),
    #[command(flatten)]
    Security(super::security::SecurityCommand),
}

/// Runs a client command.
pub async fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Register { username, invite, opts } => {
            let pw = password(opts.password.clone(), "New password: ", true)?;
            let client = opts.connect(&opts.server)?;
            let username = username.to_ascii_lowercase();
            let kdf = client.register_invited(&username, &pw, DEFAULT_ITERATIONS, invite.as_deref()).await?;
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
            println!("{} ({}) at {}", me.username, me.user_id, session.saved.server);
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
        ClientCommand::Get { id, revision: Some(revision), output, opts, .. } => {
            super::get::get_revision(&opts, &id, revision, output.as_deref()).await?
        }
        ClientCommand::Get { id, revision: None, output, accept_revision, opts } => {
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
        ClientCommand::History(command) => super::history::run(command).await?,
        ClientCommand::Security(command) => super::security::run(command).await?,
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
    let wrong = |e: ClientError| match e.code() {
        Some("invalid_credentials") => anyhow!("wrong username or password"),
        Some("invalid_second_factor") => anyhow!("wrong code, or a code used before"),
        Some("account_disabled") => anyhow!("this account is disabled; ask the server's operator"),
        _ => anyhow!(e),
    };
    let device = opts.device_name.clone().unwrap_or_else(default_device_name);
    let kdf = match client.begin_login(username, pw, &pinned, Some(&device)).await.map_err(wrong)? {
        LoginStep::Done(_, kdf) => kdf,
        LoginStep::SecondFactor(pending) => {
            let answer = super::security::second_factor(opts, &pending.challenge.factors)?;
            client.complete_login(pending, answer).await.map_err(wrong)?.1
        }
    };
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

/// `blindvault CLI on HOST`, from the kernel's host name.
fn default_device_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    if host.is_empty() { "blindvault CLI".to_owned() } else { format!("blindvault CLI on {host}") }
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
    // A file of known size goes straight to the object store where the server offers that.
    let info = match len {
        Some(len) => session.client.put_sized(&keys, &id, counted, len, &precondition).await,
        None => session.client.put_stream(&keys, &id, counted, &precondition).await,
    }
    .map_err(|e| plain(e, &id))?;
    bar.finish_and_clear();
    session.saved.etags.insert(id.clone(), info.etag.clone());
    session.known.seen(&id, &VaultSeen::new(info.revision, &info.etag, None));
    session.save(opts).await?;
    eprintln!("stored {id}: revision {}, {} bytes encrypted", info.revision, info.size);
    Ok(())
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
