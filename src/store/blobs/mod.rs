use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use thiserror::Error;

mod location;
mod meter;
mod parts;

pub use meter::Meter;

use crate::domain::{BoxError, ByteRange};
use crate::private_dir::create_private_dir;
pub use location::{BlobLocation, S3Target};
pub use parts::{PartStore, PartTarget, UPLOAD_PART_SIZE};

/// Size of one multipart part, and the most a small body is buffered before switching to a
/// multipart upload. S3 requires at least 5 MiB for every part but the last.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once during a multipart upload: memory is bounded by
/// `(PART_INFLIGHT + 1) * PART_SIZE` whatever the body size.
const PART_INFLIGHT: usize = 2;

/// Why a blob operation failed.
#[derive(Debug, Error)]
pub enum BlobStoreError {
    /// The body was longer than the limit; the upload was aborted.
    #[error("body exceeds {limit} bytes")]
    TooLarge {
        /// The limit that was crossed.
        limit: u64,
    },
    /// The body stream itself failed (client disconnected, read error); upload aborted.
    #[error("request body failed")]
    Body(#[source] BoxError),
    /// No object under that key.
    #[error("object not found")]
    NotFound,
    /// The requested range lies outside the object.
    #[error("range not satisfiable")]
    RangeNotSatisfiable,
    /// The object store failed or could not be reached.
    #[error("object store unavailable")]
    Unavailable(#[source] object_store::Error),
    /// The storage URL or its settings are unusable.
    #[error("{0}")]
    Config(String),
    /// A local file of a resumable upload could not be read or written.
    #[error("local upload storage failed")]
    Io(#[source] std::io::Error),
}

impl From<object_store::Error> for BlobStoreError {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => BlobStoreError::NotFound,
            other => BlobStoreError::Unavailable(other),
        }
    }
}

/// What a completed put stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// Bytes written.
    pub size: u64,
    /// BLAKE3 of the bytes, computed while streaming.
    pub digest: [u8; 32],
}

/// An object being read.
pub struct BlobRead {
    /// Size of the whole object.
    pub size: u64,
    /// The part of it that `body` yields.
    pub range: ByteRange,
    /// The bytes, streamed from the store.
    pub body: BoxStream<'static, Result<Bytes, BlobStoreError>>,
}

impl BlobRead {
    /// `body` (already in memory) or the `range` of it (already checked against its size).
    pub fn whole_or_range(body: Bytes, range: Option<ByteRange>) -> Self {
        let size = body.len() as u64;
        let range = range.unwrap_or(0..size);
        let part = body.slice(range.start as usize..range.end as usize);
        Self { size, range, body: futures::stream::once(async move { Ok(part) }).boxed() }
    }
}

/// The largest object one S3 `CopyObject` request copies (5 GiB).
const SINGLE_COPY_LIMIT: u64 = 5 * 1024 * 1024 * 1024;

/// Ciphertext storage over `object_store`: S3-compatible servers or a local directory.
/// Every write streams with bounded memory; nothing here buffers a whole object.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    errors: Arc<AtomicU64>,
    /// The directory of a local store: its multipart uploads stage in `<key>#<n>` files that a
    /// crash leaves behind, and deleting a key removes those too.
    local_root: Option<std::path::PathBuf>,
    /// Where resumable uploads keep their parts.
    parts: PartStore,
    /// S3: signs URLs for the endpoint clients reach (with the bucket's key prefix).
    signer: Option<(Arc<AmazonS3>, Option<String>)>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore").finish_non_exhaustive()
    }
}

impl BlobStore {
    /// Opens the store at `location`. A local directory is created (mode 0700) if missing.
    pub fn open(location: &BlobLocation) -> Result<Self, BlobStoreError> {
        let mut local_root = None;
        let mut signer = None;
        let parts;
        let inner: Arc<dyn ObjectStore> = match location {
            BlobLocation::Local(dir) => {
                local_root = Some(dir.clone());
                parts = PartStore::Local { root: dir.clone() };
                create_private_dir(dir)
                    .map_err(|e| BlobStoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
                let fs = LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| BlobStoreError::Config(format!("cannot open {}: {e}", dir.display())))?
                    .with_automatic_cleanup(true);
                Arc::new(fs)
            }
            BlobLocation::S3(target) => {
                let prefix = &target.prefix;
                let s3 = Arc::new(
                    target
                        .builder()
                        .build()
                        .map_err(|e| BlobStoreError::Config(format!("invalid S3 configuration: {e}")))?,
                );
                parts = PartStore::Multipart { store: s3.clone(), prefix: prefix.clone() };
                let signing = target
                    .signer_builder()
                    .build()
                    .map_err(|e| BlobStoreError::Config(format!("invalid S3 public endpoint: {e}")))?;
                signer = Some((Arc::new(signing), prefix.clone()));
                match prefix {
                    Some(prefix) => Arc::new(PrefixStore::new(s3, prefix.as_str())),
                    None => Arc::new(s3),
                }
            }
        };
        Ok(Self { inner, errors: Arc::default(), local_root, parts, signer })
    }

    /// An in-process store, for unit tests of the service layer.
    pub fn in_memory() -> Self {
        let memory = Arc::new(InMemory::new());
        let parts = PartStore::Multipart { store: memory.clone(), prefix: None };
        Self { inner: memory, errors: Arc::default(), local_root: None, parts, signer: None }
    }

    /// Where resumable uploads keep their parts.
    pub fn parts(&self) -> &PartStore {
        &self.parts
    }

    /// The whole of a small object (a resumable upload's tail), in memory.
    pub async fn read_small(&self, key: &str) -> Result<Vec<u8>, BlobStoreError> {
        let got = self.track(self.inner.get(&object_path(key)?).await)?;
        Ok(self.track(got.bytes().await)?.to_vec())
    }

    /// Object-store requests that failed (not counting "not found").
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Counts a failed request; passes the result on.
    fn track<T>(&self, result: Result<T, object_store::Error>) -> Result<T, object_store::Error> {
        if let Err(e) = &result
            && !matches!(e, object_store::Error::NotFound { .. })
        {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Streams `body` to `key`. Bodies up to one part are sent in a single PUT; longer ones
    /// as a multipart upload with at most a few parts in memory, aborted on any error or when
    /// the body passes `max_bytes`, so that a failed put leaves nothing behind.
    pub async fn put_stream<S, E>(
        &self,
        key: &str,
        body: S,
        max_bytes: u64,
    ) -> Result<PutOutcome, BlobStoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        let path = object_path(key)?;
        let mut body = std::pin::pin!(body);
        let mut meter = Meter::new(max_bytes);
        let mut head = Vec::new();
        let mut buffered = 0usize;
        while buffered < PART_SIZE {
            match body.next().await {
                Some(chunk) => {
                    let chunk = meter.take(chunk)?;
                    buffered += chunk.len();
                    head.push(chunk);
                }
                None => {
                    self.track(self.inner.put(&path, PutPayload::from_iter(head)).await)?;
                    return Ok(meter.finish());
                }
            }
        }
        let upload = self.track(self.inner.put_multipart(&path).await)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        for chunk in head {
            writer.put(chunk);
        }
        let streamed: Result<(), BlobStoreError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = meter.take(chunk)?;
                self.track(writer.wait_for_capacity(PART_INFLIGHT).await)?;
                writer.put(chunk);
            }
            Ok(())
        }
        .await;
        if let Err(err) = streamed {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(error = %abort, "aborting a failed multipart upload failed");
            }
            return Err(err);
        }
        self.track(writer.finish().await)?;
        Ok(meter.finish())
    }

    /// Reads `key`, or the `range` of it, as a stream. The caller checks the range against
    /// the object's size; an empty range is refused here.
    pub async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<BlobRead, BlobStoreError> {
        let path = object_path(key)?;
        if range.as_ref().is_some_and(|r| r.start >= r.end) {
            return Err(BlobStoreError::RangeNotSatisfiable);
        }
        let options = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        let result = self.track(self.inner.get_opts(&path, options).await)?;
        Ok(BlobRead {
            size: result.meta.size,
            range: result.range.clone(),
            body: result.into_stream().map_err(BlobStoreError::from).boxed(),
        })
    }

    /// Copies the object at `from` (of `size` bytes) to the new key `to`, inside the store:
    /// one server-side copy (S3 `CopyObject`, a file copy on local storage), or for objects
    /// larger than one `CopyObject` may take, a stream through this process in bounded
    /// memory. [`BlobStoreError::NotFound`] when `from` is gone.
    pub async fn copy(&self, from: &str, to: &str, size: u64) -> Result<(), BlobStoreError> {
        if size <= SINGLE_COPY_LIMIT {
            return Ok(self.track(self.inner.copy(&object_path(from)?, &object_path(to)?).await)?);
        }
        let read = self.get(from, None).await?;
        self.put_stream(to, read.body, size).await?;
        Ok(())
    }

    /// A URL that lets whoever holds it `GET` the object at `key`, without credentials, for
    /// `ttl`, signed for the endpoint clients reach; `None` on storage that cannot sign (local
    /// files: their bytes go through the gateway). Signing is local: no request is made.
    pub async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<Option<url::Url>, BlobStoreError> {
        self.presign(http::Method::GET, key, ttl, &SignedUrlOptions::default()).await
    }

    /// Whether this store signs URLs (S3), so that clients can move bytes without the gateway.
    pub fn signs_urls(&self) -> bool {
        self.signer.is_some()
    }

    /// A URL that lets whoever holds it `PUT` part `number` of the multipart upload
    /// `multipart_id` to `key` for `ttl`, and only with the bytes whose SHA-256 is `sha256`
    /// (signed as `x-amz-checksum-sha256`, which S3 checks against the body, so the bytes and
    /// their length are pinned where the server verifies checksums). `None` as for
    /// [`Self::presigned_get`].
    pub async fn presigned_part(
        &self,
        key: &str,
        multipart_id: &str,
        number: u32,
        sha256: &str,
        ttl: Duration,
    ) -> Result<Option<url::Url>, BlobStoreError> {
        let checksum = http::HeaderValue::from_str(sha256)
            .map_err(|_| BlobStoreError::Config("invalid part checksum".into()))?;
        let options = SignedUrlOptions::default()
            .with_query([("partNumber", number.to_string()), ("uploadId", multipart_id.to_owned())])
            .with_signed_header(http::HeaderName::from_static("x-amz-checksum-sha256"), checksum);
        self.presign(http::Method::PUT, key, ttl, &options).await
    }

    async fn presign(
        &self,
        method: http::Method,
        key: &str,
        ttl: Duration,
        options: &SignedUrlOptions,
    ) -> Result<Option<url::Url>, BlobStoreError> {
        let Some((signer, prefix)) = &self.signer else { return Ok(None) };
        let path = match prefix {
            Some(prefix) => object_path(&format!("{}/{key}", prefix.trim_end_matches('/')))?,
            None => object_path(key)?,
        };
        Ok(Some(self.track(signer.signed_url_opts(method, &path, ttl, options).await)?))
    }

    /// Size of the object at `key`.
    pub async fn size(&self, key: &str) -> Result<u64, BlobStoreError> {
        Ok(self.track(self.inner.head(&object_path(key)?).await)?.size)
    }

    /// Deletes `key`, and on a local store any staging files a crashed upload to it left;
    /// deleting what is not there succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), BlobStoreError> {
        match self.track(self.inner.delete(&object_path(key)?).await) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        if let Some(root) = &self.local_root {
            remove_staging(&root.join(key)).await;
        }
        Ok(())
    }

    /// Keys under `prefix`, for sweeping and tests.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobStoreError> {
        let prefix = object_path(prefix)?;
        let metas: Vec<_> = self.track(self.inner.list(Some(&prefix)).try_collect().await)?;
        Ok(metas.into_iter().map(|m| m.location.to_string()).collect())
    }

    /// One cheap request that proves the store answers and the bucket exists.
    pub async fn probe(&self) -> Result<(), BlobStoreError> {
        self.track(self.inner.list_with_delimiter(Some(&Path::from("_probe"))).await)?;
        Ok(())
    }
}

/// Removes `<file>#<n>` siblings of `file` (object_store's local multipart staging files).
async fn remove_staging(file: &std::path::Path) {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str())) else { return };
    let prefix = format!("{name}#");
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else { return };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix))
            && let Err(e) = tokio::fs::remove_file(entry.path()).await
        {
            tracing::warn!(error = %e, "could not remove a staging file of a crashed upload");
        }
    }
}

fn object_path(key: &str) -> Result<Path, BlobStoreError> {
    Path::parse(key).map_err(|_| BlobStoreError::Config("invalid object key".into()))
}
