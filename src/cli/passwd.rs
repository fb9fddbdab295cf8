//! `blindvault passwd`: re-encrypt every vault under the new key, then switch credentials, in
//! the order docs/CRYPTO.md (section 4) explains, so that an interruption loses nothing.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};

use anyhow::{anyhow, bail};
use tokio::io::{AsyncRead, DuplexStream, ReadBuf};

use super::context::{ClientOpts, plain};
use super::session::{Known, Saved, password};
use crate::client::crypto::Keys;
use crate::client::sdk::{DEFAULT_ITERATIONS, KdfParams, VaultInfo};
use crate::client::verify::{KDF, VaultSeen};
use crate::client::{Client, Precondition};

/// Runs `passwd` for the saved session's user.
/// The KDF parameters are checked against the pinned ones like every login; the pin moves to
/// the new parameters once the server accepted them.
pub async fn run(opts: &ClientOpts) -> anyhow::Result<()> {
    let config_dir = &opts.config_dir;
    let mut saved = Saved::load(config_dir)?;
    let mut known = Known::load(config_dir, &saved.server, &saved.username)?;
    let client = opts.connect(&saved.server)?;
    let current =
        password(opts.password.clone(), &format!("Current password for {}: ", saved.username), false)?;
    let (old, kdf) =
        client.login(&saved.username, &current, &known.pins()).await.map_err(|e| match e.code() {
            Some("invalid_credentials") => anyhow!("wrong password"),
            _ => anyhow!(e),
        })?;
    let new_password = password(opts.new_password.clone(), "New password: ", true)?;
    let iterations = kdf.iterations.max(DEFAULT_ITERATIONS);
    let new_salt = old.next_kdf_salt();
    let new = Keys::derive(&saved.username, &new_password, &new_salt, iterations);

    let mut moved = 0usize;
    for vault in client.list().await? {
        let id = vault.vault_id;
        let Some(head) = client.head(&id).await? else { continue };
        if new.owns(&head.salt) {
            continue;
        }
        if !old.owns(&head.salt) {
            bail!("vault {id} is under neither the current nor the new password; nothing more was changed");
        }
        let info = reencrypt(&client, &old, &new, &id, head.etag).await?;
        saved.etags.insert(id.clone(), info.etag.clone());
        known.seen(&id, &VaultSeen::new(info.revision, &info.etag, None));
        moved += 1;
        eprintln!("re-encrypted {id}");
    }
    // Pinned before the switch, so that an interruption right after it still logs in.
    known.next_kdf = Some(KdfParams { kdf: KDF.into(), iterations, salt: new_salt.to_vec() });
    known.save(config_dir, &saved.server, &saved.username)?;
    client.change_credentials(&old, &new, &new_salt, iterations).await?;
    known.kdf = known.next_kdf.take();
    known.save(config_dir, &saved.server, &saved.username)?;
    if let Some(token) = client.refresh_token().await {
        saved.refresh_token = token;
    }
    saved.save(config_dir)?;
    eprintln!("password changed; {moved} vault(s) re-encrypted; other sessions were logged out");
    Ok(())
}

/// Streams one vault down under `old` and back up under `new`, replacing exactly the revision
/// that was read. Returns the new revision.
async fn reencrypt(
    client: &Client,
    old: &Keys,
    new: &Keys,
    id: &str,
    etag: String,
) -> anyhow::Result<VaultInfo> {
    let (mut writer, reader) = tokio::io::duplex(256 * 1024);
    let complete = Arc::new(AtomicBool::new(false));
    let upload_reader = Guarded { inner: reader, complete: Arc::clone(&complete) };
    let download = async {
        let got = client.get_stream(old, id, &mut writer, |_, _| {}).await;
        if got.as_ref().is_ok_and(|d| d.etag == etag) {
            complete.store(true, Ordering::SeqCst);
        }
        drop(writer);
        got
    };
    let expected = Precondition::Etag(etag.clone());
    let upload = client.put_stream(new, id, upload_reader, &expected);
    let (got, put) = tokio::join!(download, upload);
    got.map_err(|e| plain(e, id))?;
    put.map_err(|e| plain(e, id))
}

/// The upload's side of the pipe: its end counts as the end of the vault only when the
/// download finished and authenticated; otherwise it is an error, and the half-sent
/// upload is abandoned instead of committed.
struct Guarded {
    inner: DuplexStream,
    complete: Arc<AtomicBool>,
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() == before && !self.complete.load(Ordering::SeqCst) => {
                Poll::Ready(Err(std::io::Error::other("the download of the old revision did not complete")))
            }
            other => other,
        }
    }
}
