//! `put` of a large file as a resumable upload. A dropped connection resumes by itself; the
//! upload is also kept in the session file, so `put` of the same, unchanged file after a
//! crash or Ctrl-C continues where the server stands instead of starting over.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::io::AsyncSeekExt;

use super::client::{ClientOpts, Session, plain, precondition, progress};
use super::session::SavedUpload;
use crate::client::ClientError;
use crate::client::crypto::Keys;

fn modified(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// Uploads `file` to vault `id` resumably; saves the session when done (or stopped).
pub(super) async fn put(
    mut session: Session,
    opts: &ClientOpts,
    keys: &Keys,
    id: &str,
    file: &Path,
    force: bool,
) -> anyhow::Result<()> {
    let file = std::fs::canonicalize(file).with_context(|| format!("cannot open {}", file.display()))?;
    let meta = std::fs::metadata(&file)?;
    let saved = session.saved.uploads.get(id).cloned();
    let resumable = match saved {
        Some(s)
            if s.file == file && s.modified == modified(&meta) && s.upload.plaintext_len == meta.len() =>
        {
            match session.client.upload_offset(&s.upload).await? {
                Some(offset) => {
                    eprintln!("resuming the upload of {id}: the server holds {offset} bytes");
                    Some(s)
                }
                None => None,
            }
        }
        _ => None,
    };
    let saved = match resumable {
        Some(saved) => saved,
        None => {
            let precondition = precondition(&session, id, force).await?;
            let upload = session
                .client
                .begin_upload(keys, id, meta.len(), &precondition)
                .await
                .map_err(|e| plain(e, id))?;
            let saved = SavedUpload { upload, file: file.clone(), modified: modified(&meta) };
            session.saved.uploads.insert(id.to_owned(), saved.clone());
            session.checkpoint(opts).await?;
            saved
        }
    };
    let bar = progress(Some(meta.len()));
    let shown = bar.clone();
    let report = Arc::new(move |done: u64, total: u64| {
        shown.set_length(total);
        shown.set_position(done);
    });
    let open = |at: u64| {
        let file = file.clone();
        async move {
            let mut f = tokio::fs::File::open(&file).await?;
            f.seek(std::io::SeekFrom::Start(at)).await?;
            Ok(f)
        }
    };
    let result = session.client.finish_upload(keys, &saved.upload, open, report).await;
    bar.finish_and_clear();
    match result {
        Ok(etag) => {
            session.saved.uploads.remove(id);
            session.saved.etags.insert(id.to_owned(), etag);
            let info = session.client.head(id).await?;
            session.checkpoint(opts).await?;
            eprintln!("stored {id}: {} bytes encrypted, resumable upload", info.map_or(0, |h| h.size));
            Ok(())
        }
        Err(err) => {
            // The server discarded the upload (a lost race, or it expired): start over next time.
            if matches!(err, ClientError::Conflict { .. } | ClientError::NotFound) {
                session.saved.uploads.remove(id);
            } else {
                eprintln!("the upload stopped; `blindvault put` of the same file continues it");
            }
            session.checkpoint(opts).await?;
            Err(plain(err, id))
        }
    }
}
