//! Resumable uploads from the client (tus 1.0 against `/api/v1/uploads`). The ciphertext is
//! never kept: chunked AES-GCM is deterministic for a given key, salt, IV and chunk number,
//! so the client regenerates it from the plaintext at whatever offset the server reports,
//! checking against the upload's [`SentLog`] that every regenerated chunk is the one it sent
//! (a changed file would otherwise reuse nonces). A [`PendingUpload`] and its log are all it
//! needs to continue, in this process or a later one.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blindvault_wire::tus::{self, header as h, metadata as key};
use futures::TryStreamExt;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::crypto::{CHUNK, FORMAT_VERSION, Keys, TAG, sealed_len};
use super::error::ClientError;
use super::sdk::{Client, Precondition, header, ok};
use super::sent::SentLog;
use super::stream::encrypt_from;

/// Attempts in a row that store nothing before a resumable upload gives up.
const MAX_STALLED_ATTEMPTS: u32 = 6;

/// What a client keeps to continue an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpload {
    /// The upload's path on the server (`/api/v1/uploads/<id>`).
    pub path: String,
    /// The vault it becomes.
    pub vault_id: String,
    /// The revision's salt (base64); with the keys and the IV it fixes the ciphertext.
    pub salt: String,
    /// The revision's IV (base64).
    pub iv: String,
    /// Plaintext bytes.
    pub plaintext_len: u64,
}

/// Told `(ciphertext bytes the server holds, total)` as an upload advances.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

fn transient(err: &ClientError) -> bool {
    match err {
        ClientError::Http(_) => true,
        ClientError::Api { status, .. } => *status >= 500 || [408, 409, 423].contains(status),
        _ => false,
    }
}

impl Client {
    fn tus(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.header(h::TUS_RESUMABLE, tus::VERSION)
    }

    /// Creates an upload of `plaintext_len` bytes for `vault_id`, committed with
    /// `precondition` when its last byte arrives.
    pub async fn begin_upload(
        &self,
        keys: &Keys,
        vault_id: &str,
        plaintext_len: u64,
        precondition: &Precondition,
    ) -> Result<PendingUpload, ClientError> {
        let (salt, iv) = keys.fresh_vault_params();
        let (name, value) = precondition.header();
        let version = FORMAT_VERSION.to_string();
        let metadata = tus::encode_metadata([
            (key::VAULT_ID, vault_id.as_bytes()),
            (key::IV, &iv[..]),
            (key::SALT, &salt[..]),
            (key::VERSION, version.as_bytes()),
            (key::key_of(name), value.as_bytes()),
        ]);
        let req = self
            .tus(self.authed(Method::POST, tus::UPLOADS_PATH).await?)
            .header(h::UPLOAD_LENGTH, sealed_len(plaintext_len))
            .header(h::UPLOAD_METADATA, metadata);
        let resp = ok(req.send().await?).await?;
        Ok(PendingUpload {
            path: header(resp.headers(), "location")?,
            vault_id: vault_id.to_owned(),
            salt: STANDARD.encode(&salt),
            iv: STANDARD.encode(iv),
            plaintext_len,
        })
    }

    /// How many ciphertext bytes the server holds of `upload`; `None` when it is gone
    /// (finished, ended or expired).
    pub async fn upload_offset(&self, upload: &PendingUpload) -> Result<Option<u64>, ClientError> {
        let resp = self.tus(self.authed(Method::HEAD, &upload.path).await?).send().await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = ok(resp).await?;
        let offset = header(resp.headers(), h::UPLOAD_OFFSET)?;
        offset.parse().map(Some).map_err(|_| ClientError::Protocol(h::UPLOAD_OFFSET.into()))
    }

    /// Sends the rest of `upload` from wherever the server stands, and again after every
    /// broken connection or transient refusal, until the server commits the vault. `open`
    /// gives the plaintext positioned at a byte offset; `log` is the upload's [`SentLog`]
    /// (the same one on every call for this upload). Returns the new revision's ETag.
    ///
    /// Before anything is sent, the chunks produced by earlier calls are regenerated from the
    /// start of the file and checked against `log`; while sending, each regenerated chunk is
    /// checked again and each new one recorded before it leaves. A file that changed, or a
    /// server that goes back on an offset it acknowledged, ends the call with
    /// [`ClientError::CannotResume`] without sending anything made from it: the caller
    /// abandons this upload ([`Client::cancel_upload`]) and begins a new one.
    pub async fn finish_upload<F, Fut, R>(
        &self,
        keys: &Keys,
        upload: &PendingUpload,
        log: &SentLog,
        open: F,
        progress: Progress,
    ) -> Result<String, ClientError>
    where
        F: Fn(u64) -> Fut,
        Fut: Future<Output = std::io::Result<R>>,
        R: AsyncRead + Unpin + Send + 'static,
    {
        let decode = |v: &str| STANDARD.decode(v).map_err(|_| ClientError::Protocol("saved upload".into()));
        let (salt, iv) = (decode(&upload.salt)?, decode(&upload.iv)?);
        let cipher = || keys.vault_cipher(&salt, &iv, &upload.vault_id, FORMAT_VERSION);
        let (len, total) = (upload.plaintext_len, sealed_len(upload.plaintext_len));
        if log.chunks().await > 0 {
            let plaintext = open(0).await?.take(len);
            log.verify(encrypt_from(cipher()?, plaintext, 0), len).await?;
        }
        let sealed_chunk = (CHUNK + TAG) as u64;
        let (mut stalled, mut last_offset) = (0u32, None);
        loop {
            let attempt: Result<Option<String>, ClientError> = async {
                let offset = self.upload_offset(upload).await?.ok_or(ClientError::NotFound)?;
                if offset > total {
                    return Err(ClientError::Protocol(format!("upload-offset {offset} beyond {total}")));
                }
                log.acknowledge(offset).await?;
                if last_offset.is_some_and(|last| offset > last) {
                    stalled = 0;
                }
                last_offset = Some(offset);
                progress(offset, total);
                let first_chunk = offset / sealed_chunk;
                let plaintext =
                    open(first_chunk * CHUNK as u64).await?.take(len - first_chunk * CHUNK as u64);
                let mut skip = (offset % sealed_chunk) as usize;
                let (sent, report) = (Arc::new(AtomicU64::new(offset)), progress.clone());
                let sealed = encrypt_from(cipher()?, plaintext, first_chunk);
                let body = log.checked(sealed, first_chunk, len).map_ok(move |mut chunk| {
                    let drop = skip.min(chunk.len());
                    skip -= drop;
                    let chunk = chunk.split_off(drop);
                    let now = sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    report(now + chunk.len() as u64, total);
                    chunk
                });
                let req = self
                    .tus(self.authed(Method::PATCH, &upload.path).await?)
                    .header("content-type", tus::OFFSET_OCTET_STREAM)
                    .header(h::UPLOAD_OFFSET, offset)
                    .header("content-length", total - offset)
                    .body(reqwest::Body::wrap_stream(body));
                let resp = ok(req.send().await?).await?;
                let now: u64 = header(resp.headers(), h::UPLOAD_OFFSET)?
                    .parse()
                    .map_err(|_| ClientError::Protocol(h::UPLOAD_OFFSET.into()))?;
                if now > total {
                    return Err(ClientError::Protocol(format!("upload-offset {now} beyond {total}")));
                }
                log.acknowledge(now).await?;
                (now == total).then(|| header(resp.headers(), "etag")).transpose()
            }
            .await;
            // A refusal inside the body stream reaches here as a broken request.
            let attempt = match (attempt, log.refusal().await) {
                (Err(_), Some(reason)) => Err(ClientError::CannotResume(reason)),
                (attempt, _) => attempt,
            };
            match attempt {
                Ok(Some(etag)) => return Ok(etag),
                Ok(None) => {}
                Err(e) if transient(&e) && stalled < MAX_STALLED_ATTEMPTS => {
                    stalled += 1;
                    tokio::time::sleep(Duration::from_millis(250 << stalled.min(5))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Ends an upload on the server and releases what it stored.
    pub async fn cancel_upload(&self, upload: &PendingUpload) -> Result<(), ClientError> {
        let resp = self.tus(self.authed(Method::DELETE, &upload.path).await?).send().await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        ok(resp).await.map(drop)
    }
}
