//! Where a resumable upload's bytes wait until it completes. On S3 (and the in-memory store
//! of unit tests) they are the parts of a multipart upload at the final object key, plus a
//! small tail object for bytes that do not yet fill a part; on local files, one spool file
//! per upload, renamed into place at the end. Either way every byte acknowledged to the client
//! is durable, and any replica can pick the upload up where it stopped.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{BlobStore, BlobStoreError};

/// The size of every part but the last (S3 requires at least 5 MiB).
pub const UPLOAD_PART_SIZE: usize = 8 * 1024 * 1024;

/// The parts backend of a [`BlobStore`].
#[derive(Clone)]
pub enum PartStore {
    /// Multipart uploads at `prefix/key`.
    Multipart {
        /// The store (S3 or in-memory).
        store: Arc<dyn MultipartStore>,
        /// The key prefix of the blob store, if any.
        prefix: Option<String>,
    },
    /// A spool file per upload under `root/uploads/`.
    Local {
        /// The local store's directory.
        root: PathBuf,
    },
}

/// Where one upload's bytes go.
#[derive(Debug, Clone)]
pub struct PartTarget {
    /// The upload's id (names its tail object or spool file).
    pub upload: uuid::Uuid,
    /// The final object key.
    pub key: String,
    /// The multipart upload id (S3).
    pub multipart_id: Option<String>,
}

fn io(e: std::io::Error) -> BlobStoreError {
    BlobStoreError::Io(e)
}

impl PartStore {
    fn path(&self, key: &str) -> Path {
        match self {
            PartStore::Multipart { prefix: Some(prefix), .. } => Path::from(format!("{prefix}/{key}")),
            _ => Path::from(key),
        }
    }

    fn spool(root: &std::path::Path, upload: uuid::Uuid) -> PathBuf {
        root.join("uploads").join(format!("{}.spool", upload.simple()))
    }

    fn tail_key(upload: uuid::Uuid) -> String {
        format!("uploads/{}.tail", upload.simple())
    }

    /// Starts an upload to `key`; returns the multipart id where there is one.
    pub async fn begin(&self, upload: uuid::Uuid, key: &str) -> Result<Option<String>, BlobStoreError> {
        match self {
            PartStore::Multipart { store, .. } => Ok(Some(store.create_multipart(&self.path(key)).await?)),
            PartStore::Local { root } => {
                let spool = Self::spool(root, upload);
                tokio::fs::create_dir_all(spool.parent().unwrap_or(root)).await.map_err(io)?;
                tokio::fs::File::create(&spool).await.map_err(io)?.sync_all().await.map_err(io)?;
                Ok(None)
            }
        }
    }

    /// The bytes after the last full part: `len` of them (stored by [`Self::put_tail`]).
    pub async fn tail(
        &self,
        blobs: &BlobStore,
        t: &PartTarget,
        part: usize,
        len: usize,
    ) -> Result<Vec<u8>, BlobStoreError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let bytes = match self {
            PartStore::Multipart { .. } => blobs.read_small(&Self::tail_key(t.upload)).await?,
            PartStore::Local { root } => {
                let mut file = tokio::fs::File::open(Self::spool(root, t.upload)).await.map_err(io)?;
                file.seek(std::io::SeekFrom::Start((part * UPLOAD_PART_SIZE) as u64)).await.map_err(io)?;
                let mut buf = vec![0u8; len];
                file.read_exact(&mut buf).await.map_err(io)?;
                buf
            }
        };
        if bytes.len() != len {
            return Err(BlobStoreError::Io(std::io::Error::other("the stored tail has the wrong length")));
        }
        Ok(bytes)
    }

    /// Stores part number `part` (0-based); returns its ETag (empty on local files).
    pub async fn put_part(
        &self,
        t: &PartTarget,
        part: usize,
        bytes: Bytes,
    ) -> Result<String, BlobStoreError> {
        match self {
            PartStore::Multipart { store, .. } => {
                let id = t.multipart_id.as_deref().unwrap_or_default().to_owned();
                let PartId { content_id } =
                    store.put_part(&self.path(&t.key), &id, part, bytes.into()).await?;
                Ok(content_id)
            }
            PartStore::Local { root } => {
                Self::write_at(&Self::spool(root, t.upload), part * UPLOAD_PART_SIZE, &bytes).await?;
                Ok(String::new())
            }
        }
    }

    /// Keeps the bytes after the last full part durably.
    pub async fn put_tail(
        &self,
        blobs: &BlobStore,
        t: &PartTarget,
        part: usize,
        bytes: Bytes,
    ) -> Result<(), BlobStoreError> {
        match self {
            PartStore::Multipart { .. } => {
                let body = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
                blobs.put_stream(&Self::tail_key(t.upload), body, UPLOAD_PART_SIZE as u64).await?;
                Ok(())
            }
            PartStore::Local { root } => {
                Self::write_at(&Self::spool(root, t.upload), part * UPLOAD_PART_SIZE, &bytes).await
            }
        }
    }

    async fn write_at(spool: &std::path::Path, at: usize, bytes: &[u8]) -> Result<(), BlobStoreError> {
        let mut file = tokio::fs::OpenOptions::new().write(true).open(spool).await.map_err(io)?;
        file.seek(std::io::SeekFrom::Start(at as u64)).await.map_err(io)?;
        file.write_all(bytes).await.map_err(io)?;
        file.set_len((at + bytes.len()) as u64).await.map_err(io)?;
        file.sync_all().await.map_err(io)
    }

    /// Makes the stored parts the object at `t.key`, and drops the tail.
    pub async fn finish(
        &self,
        blobs: &BlobStore,
        t: &PartTarget,
        etags: Vec<String>,
    ) -> Result<(), BlobStoreError> {
        match self {
            PartStore::Multipart { store, .. } => {
                let id = t.multipart_id.as_deref().unwrap_or_default().to_owned();
                let parts = etags.into_iter().map(|content_id| PartId { content_id }).collect();
                store.complete_multipart(&self.path(&t.key), &id, parts).await?;
            }
            PartStore::Local { root } => {
                let target = root.join(&t.key);
                tokio::fs::create_dir_all(target.parent().unwrap_or(root)).await.map_err(io)?;
                tokio::fs::rename(Self::spool(root, t.upload), &target).await.map_err(io)?;
            }
        }
        self.drop_tail(blobs, t).await
    }

    /// Releases everything the upload stored; the final object, if completed, is not touched.
    pub async fn release(&self, blobs: &BlobStore, t: &PartTarget) -> Result<(), BlobStoreError> {
        match self {
            PartStore::Multipart { store, .. } => {
                if let Some(id) = &t.multipart_id {
                    match store.abort_multipart(&self.path(&t.key), id).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            PartStore::Local { root } => match tokio::fs::remove_file(Self::spool(root, t.upload)).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            },
        }
        self.drop_tail(blobs, t).await
    }

    async fn drop_tail(&self, blobs: &BlobStore, t: &PartTarget) -> Result<(), BlobStoreError> {
        if matches!(self, PartStore::Multipart { .. }) {
            blobs.delete(&Self::tail_key(t.upload)).await?;
        }
        Ok(())
    }
}
