//! What the CLI keeps between commands: the server, the username, the refresh token and the
//! ETags it last saw, in `<config dir>/session.json` with mode 0600. Never the password or K_enc.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

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
}

/// Where the session file lives.
pub fn path(config_dir: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
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
    Ok(dir.join("session.json"))
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
        let path = path(config_dir)?;
        let dir = path.parent().context("session path has no directory")?;
        crate::config::create_private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = path.with_extension("json.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.write_all(&serde_json::to_vec_pretty(self)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
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
