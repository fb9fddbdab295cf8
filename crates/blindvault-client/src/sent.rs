//! What a resumable upload has sent, so that resuming it can never reuse a nonce.
//!
//! Chunked AES-GCM is deterministic for a given key, salt, IV and chunk number, which is what
//! lets a resumed upload regenerate its ciphertext instead of keeping it, and also what makes
//! regenerating it dangerous: if the plaintext changed in between, the same nonce would seal
//! different data. A [`SentLog`] holds the GCM tag of every chunk this client ever produced for
//! one upload, written to disk (and synced) before that chunk leaves the process, and the
//! highest offset the server acknowledged. A regenerated chunk whose tag differs from the one
//! recorded is never sent: under the same key and nonce two different plaintexts give the same
//! tag with probability at most `⌈len/16⌉ / 2^128`, so equal tags prove equal plaintext
//! (docs/CRYPTO.md, "Resuming an upload"). The tags are already part of the ciphertext the
//! server holds, so the log adds nothing an observer of the server does not have.
//!
//! On disk the log is append-only records: `T` and a 16-byte tag (the next chunk's), or `A`
//! and a big-endian `u64` (an acknowledged offset). A torn last record (a crash mid-write) is
//! ignored: its chunk was not sent, because a chunk leaves only after its record is synced.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::crypto::{CHUNK, TAG};
use super::error::ClientError;

/// Sealed chunks checked and recorded together (one `fsync` per batch): 1 MiB of plaintext.
const BATCH: usize = 16;
/// Bytes of one sealed chunk.
const SEALED: u64 = (CHUNK + TAG) as u64;

/// The record of one upload's sent chunks: a cheap handle, shared by the attempts of one
/// upload. See the module documentation.
#[derive(Clone)]
pub struct SentLog(Arc<Mutex<Inner>>);

struct Inner {
    file: Option<tokio::fs::File>,
    path: Option<PathBuf>,
    tags: Vec<[u8; TAG]>,
    acked: u64,
    refused: Option<String>,
}

impl std::fmt::Debug for SentLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SentLog")
    }
}

impl SentLog {
    /// A log kept in memory only: enough while one process sees the upload from its first
    /// byte to its last, not for continuing it after that process ends.
    pub fn in_memory() -> Self {
        Self::from(Inner { file: None, path: None, tags: Vec::new(), acked: 0, refused: None })
    }

    /// Creates the log of a new upload at `path` (mode 0600; an existing file is an error).
    pub async fn create(path: &Path) -> std::io::Result<Self> {
        let file = tokio::fs::OpenOptions::new().append(true).create_new(true).mode(0o600).open(path).await?;
        sync_dir(path).await?;
        Ok(Self::from(Inner {
            file: Some(file),
            path: Some(path.to_owned()),
            tags: Vec::new(),
            acked: 0,
            refused: None,
        }))
    }

    /// Opens the log an earlier process kept at `path`.
    pub async fn open(path: &Path) -> std::io::Result<Self> {
        let bytes = tokio::fs::read(path).await?;
        let (tags, acked) = parse(&bytes);
        let file = tokio::fs::OpenOptions::new().append(true).open(path).await?;
        Ok(Self::from(Inner { file: Some(file), path: Some(path.to_owned()), tags, acked, refused: None }))
    }

    fn from(inner: Inner) -> Self {
        Self(Arc::new(Mutex::new(inner)))
    }

    /// Removes the log's file (the upload finished or was abandoned).
    pub async fn remove(&self) -> std::io::Result<()> {
        let mut inner = self.0.lock().await;
        inner.file = None;
        match inner.path.take() {
            Some(path) => match tokio::fs::remove_file(&path).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// How many chunks this client has produced (and perhaps sent) for the upload.
    pub async fn chunks(&self) -> u64 {
        self.0.lock().await.tags.len() as u64
    }

    /// The highest offset the server acknowledged holding.
    pub async fn acknowledged(&self) -> u64 {
        self.0.lock().await.acked
    }

    /// Takes note that the server holds `offset` bytes. Refuses an offset below one it
    /// acknowledged before (it lost or is hiding data: the upload cannot continue as it is)
    /// or above what this client produced (bytes it never sent).
    pub async fn acknowledge(&self, offset: u64) -> Result<(), ClientError> {
        let mut inner = self.0.lock().await;
        if offset < inner.acked {
            let acked = inner.acked;
            return Err(inner
                .refuse(format!("the server now says it holds {offset} bytes after acknowledging {acked}")));
        }
        if offset > inner.tags.len() as u64 * SEALED {
            return Err(
                inner.refuse(format!("the server says it holds {offset} bytes, more than this client sent"))
            );
        }
        if offset > inner.acked {
            inner.acked = offset;
            let mut record = vec![b'A'];
            record.extend_from_slice(&offset.to_be_bytes());
            inner.append(&record, false).await?;
        }
        Ok(())
    }

    /// Why a stream of this log refused a chunk, if one did.
    pub async fn refusal(&self) -> Option<String> {
        self.0.lock().await.refused.clone()
    }

    /// Checks `sealed` (the whole ciphertext regenerated from the start of the file) against
    /// every chunk recorded, reading no further than the last one recorded.
    pub async fn verify<S>(&self, sealed: S, plaintext_len: u64) -> Result<(), ClientError>
    where
        S: Stream<Item = std::io::Result<Bytes>>,
    {
        let mut inner = self.0.lock().await;
        let mut sealed = std::pin::pin!(sealed);
        for i in 0..inner.tags.len() as u64 {
            let chunk = sealed.next().await.transpose()?.unwrap_or_default();
            if let Err(e) = compare(i, &chunk, plaintext_len, inner.tags.get(i as usize)) {
                return Err(inner.refuse(e));
            }
        }
        Ok(())
    }

    /// `sealed` (a stream of sealed chunks numbered from `first`, as
    /// [`encrypt_from`](super::stream::encrypt_from) makes them) checked against this log:
    /// a chunk produced before must have the tag recorded then, a new chunk is recorded (and
    /// synced) before it is yielded, and every chunk must have the size a plaintext of
    /// `plaintext_len` bytes gives it. The first mismatch ends the stream with
    /// [`ClientError::CannotResume`] before the chunk is yielded. Chunks come out in batches
    /// of up to 1 MiB.
    pub fn checked<S>(
        &self,
        sealed: S,
        first: u64,
        plaintext_len: u64,
    ) -> impl Stream<Item = Result<Bytes, ClientError>> + Send + 'static
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        let log = self.clone();
        let mut next = first;
        sealed.map_err(ClientError::Io).try_chunks(BATCH).map_err(|e| e.1).and_then(move |batch| {
            let (log, at) = (log.clone(), next);
            next += batch.len() as u64;
            async move { log.check_batch(at, batch, plaintext_len).await }
        })
    }

    async fn check_batch(
        &self,
        at: u64,
        batch: Vec<Bytes>,
        plaintext_len: u64,
    ) -> Result<Bytes, ClientError> {
        let mut inner = self.0.lock().await;
        let mut fresh: Vec<[u8; TAG]> = Vec::new();
        let mut out = BytesMut::with_capacity(batch.iter().map(Bytes::len).sum());
        for (i, chunk) in (at..).zip(&batch) {
            let known = inner.tags.len() as u64;
            match compare(i, chunk, plaintext_len, inner.tags.get(i as usize)) {
                Ok(None) => {}
                Ok(Some(tag)) if i == known + fresh.len() as u64 => fresh.push(tag),
                Ok(Some(_)) => return Err(inner.refuse(format!("chunk {i} would skip unsent chunks"))),
                Err(e) => return Err(inner.refuse(e)),
            }
            out.extend_from_slice(chunk);
        }
        if !fresh.is_empty() {
            let records: Vec<u8> = fresh.iter().flat_map(|tag| std::iter::once(b'T').chain(*tag)).collect();
            inner.append(&records, true).await?;
            inner.tags.extend(fresh);
        }
        Ok(out.freeze())
    }
}

impl Inner {
    fn refuse(&mut self, reason: String) -> ClientError {
        self.refused = Some(reason.clone());
        ClientError::CannotResume(reason)
    }

    async fn append(&mut self, record: &[u8], sync: bool) -> std::io::Result<()> {
        if let Some(file) = &mut self.file {
            file.write_all(record).await?;
            // tokio hands writes to a blocking thread: wait until this one reached the file.
            file.flush().await?;
            if sync {
                file.sync_data().await?;
            }
        }
        Ok(())
    }
}

/// Checks sealed chunk `i` against its recorded tag; `Ok(Some(tag))` for a chunk not
/// produced before.
fn compare(
    i: u64,
    chunk: &[u8],
    plaintext_len: u64,
    recorded: Option<&[u8; TAG]>,
) -> Result<Option<[u8; TAG]>, String> {
    let changed =
        || format!("the file is not what this upload began with (chunk {i} differs from what was sent)");
    if chunk.len() as u64 != sealed_chunk_len(i, plaintext_len) {
        return Err(changed());
    }
    let tag: [u8; TAG] = chunk[chunk.len() - TAG..].try_into().map_err(|_| changed())?;
    match recorded {
        Some(recorded) if *recorded != tag => Err(changed()),
        Some(_) => Ok(None),
        None => Ok(Some(tag)),
    }
}

/// The size of sealed chunk `i` of a plaintext of `len` bytes (0 past its end).
fn sealed_chunk_len(i: u64, len: u64) -> u64 {
    let chunks = len.div_ceil(CHUNK as u64).max(1);
    match i.cmp(&(chunks - 1)) {
        std::cmp::Ordering::Less => SEALED,
        std::cmp::Ordering::Equal => len - i * CHUNK as u64 + TAG as u64,
        std::cmp::Ordering::Greater => 0,
    }
}

fn parse(mut bytes: &[u8]) -> (Vec<[u8; TAG]>, u64) {
    let (mut tags, mut acked) = (Vec::new(), 0);
    loop {
        match bytes {
            [b'T', rest @ ..] if rest.len() >= TAG => {
                tags.push(rest[..TAG].try_into().unwrap_or_default());
                bytes = &rest[TAG..];
            }
            [b'A', rest @ ..] if rest.len() >= 8 => {
                acked = acked.max(u64::from_be_bytes(rest[..8].try_into().unwrap_or_default()));
                bytes = &rest[8..];
            }
            _ => return (tags, acked),
        }
    }
}

/// Syncs the directory holding `path`, so that a new log survives a crash.
async fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => tokio::fs::File::open(dir).await?.sync_all().await,
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "sent_tests.rs"]
mod tests;
