//! `blindvault get`: a vault downloaded and decrypted, after the checks that refuse a rollback
//! or a swap; into a file only once all of it authenticated.

use std::path::Path;

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
            // Into a temporary file beside the target, renamed only once all of it decrypted.
            let tmp = path.with_file_name(format!(
                ".{}.part",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("vault")
            ));
            let mut out = tokio::fs::File::create(&tmp)
                .await
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            let result = client.get_verified(&keys, id, &mut out, known.as_ref(), on_progress).await;
            match &result {
                Ok(_) => tokio::fs::rename(&tmp, path).await?,
                Err(_) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                }
            }
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
