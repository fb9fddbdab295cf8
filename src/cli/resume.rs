//! `put` of a large file as a resumable upload. A dropped connection resumes by itself; the
//! upload is also kept in the session file, with the log of what was sent
//! (`<config dir>/uploads/*.sent`, see [`SentLog`]), so `put` of the same, unchanged file
//! after a crash or Ctrl-C continues where the server stands instead of starting over. A file
//! that changed, or a server that goes back on what it acknowledged, abandons that upload
//! and starts a new one under a fresh salt and IV: a nonce is never reused.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::io::AsyncSeekExt;

use super::context::{ClientOpts, Session, plain, precondition, progress};
use super::session::{SavedUpload, uploads_dir};
use crate::client::ClientError;
use crate::client::crypto::Keys;
use crate::client::sent::SentLog;

/// New uploads started after one had to be abandoned, before `put` gives up.
const FRESH_STARTS: u32 = 2;

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
    let mut fresh_starts = 0;
    loop {
        let meta = std::fs::metadata(&file)?;
        let (saved, log) = match saved_upload(&mut session, opts, id, &file, &meta).await? {
            Some(resumable) => resumable,
            None => begin(&mut session, opts, keys, id, &file, &meta, force).await?,
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
        let result = session.client.finish_upload(keys, &saved.upload, &log, open, report).await;
        bar.finish_and_clear();
        match result {
            Ok(etag) => {
                forget(&mut session, id, &saved).await;
                session.saved.etags.insert(id.to_owned(), etag);
                let info = session.client.head(id).await?;
                session.checkpoint(opts).await?;
                eprintln!("stored {id}: {} bytes encrypted, resumable upload", info.map_or(0, |h| h.size));
                return Ok(());
            }
            Err(ClientError::CannotResume(why)) if fresh_starts < FRESH_STARTS => {
                eprintln!("{id}: {why}; abandoning that upload and starting a new one (fresh salt and IV)");
                abandon(&mut session, opts, id, &saved).await?;
                fresh_starts += 1;
            }
            Err(err) => {
                match err {
                    ClientError::CannotResume(_) => abandon(&mut session, opts, id, &saved).await?,
                    // The server discarded the upload (a lost race, or it expired): start over next time.
                    ClientError::Conflict { .. } | ClientError::NotFound => {
                        forget(&mut session, id, &saved).await
                    }
                    _ => eprintln!("the upload stopped; `blindvault put` of the same file continues it"),
                }
                session.checkpoint(opts).await?;
                return Err(plain(err, id));
            }
        }
    }
}

/// The saved upload of `id`, if it is of this file, unchanged, still on the server, and its
/// log is here; any other saved upload of `id` is abandoned.
async fn saved_upload(
    session: &mut Session,
    opts: &ClientOpts,
    id: &str,
    file: &Path,
    meta: &std::fs::Metadata,
) -> anyhow::Result<Option<(SavedUpload, SentLog)>> {
    let Some(saved) = session.saved.uploads.get(id).cloned() else { return Ok(None) };
    let same_file =
        saved.file == file && saved.modified == modified(meta) && saved.upload.plaintext_len == meta.len();
    let log = match &saved.journal {
        Some(path) if same_file => SentLog::open(path).await.ok(),
        _ => None,
    };
    let Some(log) = log else {
        let why =
            if same_file { "there is no log of what it sent" } else { "the file changed since it began" };
        eprintln!("{id}: the saved upload cannot continue ({why}); starting a new upload");
        abandon(session, opts, id, &saved).await?;
        return Ok(None);
    };
    match session.client.upload_offset(&saved.upload).await? {
        Some(offset) => {
            eprintln!("resuming the upload of {id}: the server holds {offset} bytes");
            Ok(Some((saved, log)))
        }
        None => {
            forget(session, id, &saved).await;
            Ok(None)
        }
    }
}

/// Begins a new upload of `file`: its log first, then the upload, then the session.
async fn begin(
    session: &mut Session,
    opts: &ClientOpts,
    keys: &Keys,
    id: &str,
    file: &Path,
    meta: &std::fs::Metadata,
    force: bool,
) -> anyhow::Result<(SavedUpload, SentLog)> {
    let dir = uploads_dir(&opts.config_dir)?;
    crate::private_dir::create_private_dir(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let journal = dir.join(format!("{:032x}.sent", rand::random::<u128>()));
    let log =
        SentLog::create(&journal).await.with_context(|| format!("cannot create {}", journal.display()))?;
    let precondition = precondition(session, id, force).await?;
    let upload = match session.client.begin_upload(keys, id, meta.len(), &precondition).await {
        Ok(upload) => upload,
        Err(e) => {
            let _ = log.remove().await;
            return Err(plain(e, id));
        }
    };
    let saved =
        SavedUpload { upload, file: file.to_owned(), modified: modified(meta), journal: Some(journal) };
    session.saved.uploads.insert(id.to_owned(), saved.clone());
    session.checkpoint(opts).await?;
    Ok((saved, log))
}

/// Ends `saved` on the server (releasing what it holds) and forgets it here.
async fn abandon(
    session: &mut Session,
    opts: &ClientOpts,
    id: &str,
    saved: &SavedUpload,
) -> anyhow::Result<()> {
    if let Err(e) = session.client.cancel_upload(&saved.upload).await {
        eprintln!("{id}: could not end the abandoned upload on the server ({e}); it expires by itself");
    }
    forget(session, id, saved).await;
    session.checkpoint(opts).await
}

/// Forgets the upload of `id` and removes its log.
async fn forget(session: &mut Session, id: &str, saved: &SavedUpload) {
    session.saved.uploads.remove(id);
    if let Some(path) = &saved.journal {
        let _ = tokio::fs::remove_file(path).await;
    }
}
