//! Keys the embedded deployment generates into its data directory on first start (mode 0600)
//! when they are not configured: the JWT signing key and the secrets key.

use std::path::Path;

use anyhow::{Context, bail};

use crate::config::{Settings, decode_secrets_key};
use crate::private_dir::create_private_dir;

/// The configured JWT key, or (embedded deployment only) the one in `<data>/jwt.key`,
/// generated with mode 0600 on first start.
pub fn jwt_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &settings.jwt_secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let path = settings.data_dir.join("jwt.key");
    create_private_dir(&settings.data_dir)
        .with_context(|| format!("cannot create {}", settings.data_dir.display()))?;
    let fresh: String = rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect();
    match write_new_private_file(&path, fresh.as_bytes()) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a new JWT signing key");
            Ok(fresh.into_bytes())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let key =
                std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let key = key.trim();
            if key.len() < 32 {
                bail!("{} holds fewer than 32 bytes; delete it to generate a new key", path.display());
            }
            Ok(key.as_bytes().to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
}

fn write_new_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// The configured secrets key, or (embedded deployment only; `validate` requires one with
/// Postgres) the one in `<data>/secrets.key`, generated on first start.
pub fn secrets_key(settings: &Settings) -> anyhow::Result<[u8; 32]> {
    use base64::Engine as _;
    if let Some(key) = settings.secrets_key_bytes() {
        return Ok(key);
    }
    let path = settings.data_dir.join("secrets.key");
    create_private_dir(&settings.data_dir)
        .with_context(|| format!("cannot create {}", settings.data_dir.display()))?;
    let fresh: [u8; 32] = rand::random();
    match write_new_private_file(&path, base64::engine::general_purpose::STANDARD.encode(fresh).as_bytes()) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a new secrets key");
            Ok(fresh)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            match decode_secrets_key(&text) {
                Some(key) => Ok(key),
                None => {
                    bail!("{} does not hold 32 bytes of base64; restore it from a backup", path.display())
                }
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
}
