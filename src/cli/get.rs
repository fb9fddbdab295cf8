//! `blindvault get`: a vault downloaded and decrypted, after the checks that refuse a rollback
//! or a swap; into a file only once all of it authenticated.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::context::{ClientOpts, Session, plain, progress};

/// Fetches and decrypts vault `id` into `output` (stdout without one); with `accept_revision`,
/// whatever revision the server serves replaces the one remembered.
pub(super) async fn get(
    opts: &ClientOpts,
    id: &str,
    output: Option<&Path>,
    accept_revision: bool,
) -> anyhow::Result<()> {
    let mut session = Session::resume(opts).await?;
    let keys = session.keys(opts).await?;
    let bar = progress(None);
    let on_progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    if accept_revision {
        session.known.vaults.remove(id);
    }
    let known = session.known.vaults.get(id).cloned();
    let client = &session.client;
    let downloaded = match output {
        None => client.get_verified(&keys, id, &mut tokio::io::stdout(), known.as_ref(), on_progress).await,
        Some(path) => {
            let (tmp, mut out) = part_file(path).await?;
            let result = client.get_verified(&keys, id, &mut out, known.as_ref(), on_progress).await;
            finish(&tmp, path, result.is_ok()).await?;
            result
        }
    }
    .map_err(|e| plain(e, id))?;
    bar.finish_and_clear();
    let (downloaded, seen) = downloaded;
    session.saved.etags.insert(id.to_owned(), downloaded.etag);
    session.known.seen(id, &seen);
    session.save(opts).await?;
    Ok(())
}

/// Fetches and decrypts revision `revision` of vault `id` into `output` (stdout without one).
pub(super) async fn get_revision(
    opts: &ClientOpts,
    id: &str,
    revision: u64,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let session = Session::resume(opts).await?;
    let keys = session.keys(opts).await?;
    let client = &session.client;
    match output {
        None => client.get_revision(&keys, id, revision, &mut tokio::io::stdout()).await,
        Some(path) => {
            let (tmp, mut out) = part_file(path).await?;
            let result = client.get_revision(&keys, id, revision, &mut out).await;
            finish(&tmp, path, result.is_ok()).await?;
            result
        }
    }
    .map_err(|e| plain(e, id))?;
    session.save(opts).await?;
    Ok(())
}

/// A temporary file beside `path`, renamed to it only once all of the vault decrypted.
async fn part_file(path: &Path) -> anyhow::Result<(PathBuf, tokio::fs::File)> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("vault");
    let tmp = path.with_file_name(format!(".{name}.part"));
    let out =
        tokio::fs::File::create(&tmp).await.with_context(|| format!("cannot write {}", tmp.display()))?;
    Ok((tmp, out))
}

/// Renames the finished `tmp` to `path`, or removes it when the download failed.
async fn finish(tmp: &Path, path: &Path, succeeded: bool) -> anyhow::Result<()> {
    if succeeded {
        tokio::fs::rename(tmp, path).await?;
    } else {
        let _ = tokio::fs::remove_file(tmp).await;
    }
    Ok(())
}
