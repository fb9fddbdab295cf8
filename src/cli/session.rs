//! What the CLI keeps between commands: the server, the username, the refresh token and the
//! ETags it last saw, in `<config dir>/session.json` with mode 0600; and, across logouts, what it
//! trusts of each account (`Known`). Never the password or K_enc.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::client::sdk::KdfParams;
use crate::client::verify::VaultSeen;

/// The saved session.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    /// Server base URL.
    pub server: String,
    /// Username.
    pub username: String,
    /// The current refresh token (single use: replaced after every command).
    pub refresh_token: String,
    /// Last-seen ETag per vault id.
    #[serde(default)]
    pub etags: BTreeMap<String, String>,
    /// Unfinished resumable uploads per vault id: `put` of the same file continues them.
    #[serde(default)]
    pub uploads: BTreeMap<String, SavedUpload>,
}

/// An unfinished resumable upload, and the file it reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedUpload {
    /// What the server needs to continue it.
    #[serde(flatten)]
    pub upload: crate::client::resumable::PendingUpload,
    /// The file (absolute).
    pub file: PathBuf,
    /// Its modification time (Unix nanoseconds) when the upload began: a changed file starts over.
    pub modified: u128,
    /// The upload's [`SentLog`](crate::client::sent::SentLog): what was sent, checked before
    /// anything is sent again. An upload saved without one is abandoned, not continued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<PathBuf>,
}

/// What this machine has seen of one account on one server, kept across logouts in
/// `<config dir>/known.json`: the pinned KDF parameters and the newest revision of each vault.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Known {
    /// The KDF parameters last accepted for the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdf: Option<KdfParams>,
    /// The parameters an unfinished `passwd` moves to (accepted too until it finishes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_kdf: Option<KdfParams>,
    /// The newest revision seen per vault id.
    #[serde(default)]
    pub vaults: BTreeMap<String, VaultSeen>,
}

impl Known {
    /// What is known of `username` at `server` (nothing yet: the default).
    pub fn load(config_dir: &Option<PathBuf>, server: &str, username: &str) -> anyhow::Result<Self> {
        Ok(all_known(config_dir)?.remove(&known_key(server, username)).unwrap_or_default())
    }

    /// Saves what is known of `username` at `server`, keeping the other accounts'.
    pub fn save(&self, config_dir: &Option<PathBuf>, server: &str, username: &str) -> anyhow::Result<()> {
        let mut all = all_known(config_dir)?;
        all.insert(known_key(server, username), self.clone());
        write_private(&dir(config_dir)?.join("known.json"), &serde_json::to_vec_pretty(&all)?)
    }
}

impl Known {
    /// The KDF parameters to accept: the pinned ones and an unfinished `passwd`'s.
    pub fn pins(&self) -> Vec<KdfParams> {
        self.kdf.iter().chain(&self.next_kdf).cloned().collect()
    }

    /// Remembers `served` as the newest revision of `id` seen (an older one changes nothing).
    pub fn seen(&mut self, id: &str, served: &VaultSeen) {
        let next = match self.vaults.get(id) {
            Some(known) if known.revision > served.revision => return,
            Some(known) => known.advance(served),
            None => served.clone(),
        };
        self.vaults.insert(id.to_owned(), next);
    }
}

fn known_key(server: &str, username: &str) -> String {
    format!("{} {}", server.trim_end_matches('/'), username.to_ascii_lowercase())
}

fn all_known(config_dir: &Option<PathBuf>) -> anyhow::Result<BTreeMap<String, Known>> {
    let path = dir(config_dir)?.join("known.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!("{} is damaged; it holds what this machine trusts, so it is not replaced", path.display())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Where the session file lives.
pub fn path(config_dir: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(dir(config_dir)?.join("session.json"))
}

/// Where the logs of unfinished uploads live.
pub fn uploads_dir(config_dir: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(dir(config_dir)?.join("uploads"))
}

fn dir(config_dir: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match config_dir {
        Some(dir) => dir.clone(),
        None => match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(base) => PathBuf::from(base).join("blindvault"),
            None => {
                PathBuf::from(std::env::var_os("HOME").context("HOME is not set; set BLINDVAULT_CONFIG_DIR")?)
                    .join(".config/blindvault")
            }
        },
    };
    Ok(dir)
}

/// Writes `bytes` to `path` atomically with mode 0600, creating its directory.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("session path has no directory")?;
    crate::private_dir::create_private_dir(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

impl Saved {
    /// Reads the session, or explains how to get one.
    pub fn load(config_dir: &Option<PathBuf>) -> anyhow::Result<Self> {
        let path = path(config_dir)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("not logged in; run `blindvault login USERNAME`")
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        serde_json::from_str(&text).with_context(|| format!("{} is damaged; log in again", path.display()))
    }

    /// Writes the session atomically with mode 0600.
    pub fn save(&self, config_dir: &Option<PathBuf>) -> anyhow::Result<()> {
        write_private(&path(config_dir)?, &serde_json::to_vec_pretty(self)?)
    }

    /// Removes the session file.
    pub fn forget(config_dir: &Option<PathBuf>) -> anyhow::Result<()> {
        match std::fs::remove_file(path(config_dir)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The password: `BLINDVAULT_PASSWORD` (for scripts), else a no-echo prompt on the terminal.
pub fn password(env: Option<String>, prompt: &str, confirm: bool) -> anyhow::Result<String> {
    if let Some(pw) = env {
        return Ok(pw);
    }
    let first = rpassword::prompt_password(prompt)
        .context("cannot read a password (no terminal? set BLINDVAULT_PASSWORD)")?;
    if first.is_empty() {
        bail!("the password is empty");
    }
    if confirm {
        let again = rpassword::prompt_password("Repeat it: ").context("cannot read a password")?;
        if again != first {
            bail!("the two passwords differ");
        }
    }
    Ok(first)
}
