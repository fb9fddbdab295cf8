//! Vault operations of the [`Client`]: listing, streaming and in-memory reads and writes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blindvault_wire::vaults::{MAX_PAGE, X_VAULT_IV, X_VAULT_SALT, X_VAULT_SIZE, X_VAULT_VERSION};
use blindvault_wire::{FullVault, ListResponse, ReplaceRequest};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::crypto::{FORMAT_VERSION, Keys};
use super::error::ClientError;
use super::sdk::{Client, Downloaded, Precondition, VaultHead, VaultInfo, header, ok};
use super::stream::{decrypt, encrypt};
use super::verify::{VaultSeen, check_transport};

impl Client {
    /// Every vault, all pages.
    pub async fn list(&self) -> Result<Vec<VaultInfo>, ClientError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => {
                    format!("/api/v1/vault?limit={MAX_PAGE}&cursor={}", blindvault_wire::percent_encode(c))
                }
                None => format!("/api/v1/vault?limit={MAX_PAGE}"),
            };
            let req = self.authed(Method::GET, &path).await?;
            let page: ListResponse = ok(req.send().await?)
                .await?
                .json()
                .await
                .map_err(|e| ClientError::Protocol(format!("vault list: {e}")))?;
            all.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// The stored parameters of a vault, or `None` if it does not exist.
    pub async fn head(&self, vault_id: &str) -> Result<Option<VaultHead>, ClientError> {
        let resp = self.authed(Method::HEAD, &vault_path(vault_id, "/content")).await?.send().await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if resp.status().is_client_error() {
            // A HEAD answer has no body to explain itself: ask with GET for the problem.
            ok(self.authed(Method::GET, &vault_path(vault_id, "")).await?.send().await?).await?;
            return Err(ClientError::Protocol("HEAD refused what GET accepted".into()));
        }
        let resp = ok(resp).await?;
        let h = resp.headers();
        let decode = |name: &str| -> Result<Vec<u8>, ClientError> {
            STANDARD
                .decode(header(h, name)?)
                .map_err(|_| ClientError::Protocol(format!("{name} is not base64")))
        };
        Ok(Some(VaultHead {
            etag: header(h, "etag")?,
            size: header(h, "content-length")?
                .parse()
                .map_err(|_| ClientError::Protocol("content-length".into()))?,
            iv: decode(X_VAULT_IV)?,
            salt: decode(X_VAULT_SALT)?,
            version: header(h, X_VAULT_VERSION)?
                .parse()
                .map_err(|_| ClientError::Protocol(X_VAULT_VERSION.into()))?,
        }))
    }

    /// Encrypts `plaintext` as it is read and streams it to the vault.
    pub async fn put_stream<R>(
        &self,
        keys: &Keys,
        vault_id: &str,
        plaintext: R,
        precondition: &Precondition,
    ) -> Result<VaultInfo, ClientError>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let (salt, iv) = keys.fresh_vault_params();
        let cipher = keys.vault_cipher(&salt, &iv, vault_id, FORMAT_VERSION)?;
        let body = reqwest::Body::wrap_stream(encrypt(cipher, plaintext));
        self.send_sealed(vault_id, body, (&salt, &iv), precondition).await
    }

    /// Streams ciphertext sealed under `(salt, iv)` to the vault through the gateway.
    pub(super) async fn send_sealed(
        &self,
        vault_id: &str,
        body: reqwest::Body,
        (salt, iv): (&[u8], &[u8]),
        precondition: &Precondition,
    ) -> Result<VaultInfo, ClientError> {
        let (name, value) = precondition.header();
        let req = self
            .authed(Method::PUT, &vault_path(vault_id, "/content"))
            .await?
            .header("content-type", "application/octet-stream")
            .header(X_VAULT_IV, STANDARD.encode(iv))
            .header(X_VAULT_SALT, STANDARD.encode(salt))
            .header(X_VAULT_VERSION, FORMAT_VERSION.to_string())
            .header(name, value)
            .body(body);
        Ok(ok(req.send().await?).await?.json().await?)
    }

    /// Streams a vault down and decrypts it into `out`. `progress` is told the ciphertext
    /// bytes received and the total.
    pub async fn get_stream<W>(
        &self,
        keys: &Keys,
        vault_id: &str,
        out: &mut W,
        progress: impl FnMut(u64, u64),
    ) -> Result<Downloaded, ClientError>
    where
        W: AsyncWrite + Unpin,
    {
        self.stream_content(keys, vault_id, out, None, progress).await
    }

    /// [`Client::get_stream`] of exactly the revision `expected` names (its ETag and salt),
    /// from `content` (the vault's content path unless given), its ciphertext bound to `aad_id`.
    pub(super) async fn stream_content<W>(
        &self,
        keys: &Keys,
        vault_id: &str,
        out: &mut W,
        expected: Option<&VaultSeen>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Downloaded, ClientError>
    where
        W: AsyncWrite + Unpin,
    {
        let source = Source { content: vault_path(vault_id, "/content"), aad_id: vault_id.to_owned() };
        self.stream_from(keys, vault_id, &source, out, expected, &mut progress).await
    }

    /// Streams and decrypts the content at `source`.
    pub(super) async fn stream_from<W>(
        &self,
        keys: &Keys,
        vault_id: &str,
        source: &Source,
        out: &mut W,
        expected: Option<&VaultSeen>,
        progress: &mut impl FnMut(u64, u64),
    ) -> Result<Downloaded, ClientError>
    where
        W: AsyncWrite + Unpin,
    {
        let path = format!("{}?direct=true", source.content);
        let resp = self.authed(Method::GET, &path).await?.send().await?;
        let (h, resp) = if resp.status() == StatusCode::TEMPORARY_REDIRECT {
            // The bytes from the object store, the metadata from the gateway's answer; through
            // the gateway after all when the store's URL cannot be used.
            let h = resp.headers().clone();
            match self.fetch_direct(&h).await {
                Ok(direct) => (h, direct),
                Err(_) => {
                    let resp = ok(self.authed(Method::GET, &source.content).await?.send().await?).await?;
                    (resp.headers().clone(), resp)
                }
            }
        } else {
            let resp = ok(resp).await?;
            (resp.headers().clone(), resp)
        };
        let etag = header(&h, "etag")?;
        let total = resp.content_length().unwrap_or(0);
        let salt_b64 = header(&h, X_VAULT_SALT)?;
        if let Some(expected) = expected {
            let served = VaultSeen::new(expected.revision, &etag, Some(salt_b64.clone()));
            expected.check(vault_id, &served)?;
        }
        let iv =
            STANDARD.decode(header(&h, X_VAULT_IV)?).map_err(|_| ClientError::Protocol(X_VAULT_IV.into()))?;
        let salt = STANDARD.decode(salt_b64).map_err(|_| ClientError::Protocol(X_VAULT_SALT.into()))?;
        let version: u32 = header(&h, X_VAULT_VERSION)?
            .parse()
            .map_err(|_| ClientError::Protocol(X_VAULT_VERSION.into()))?;
        let cipher = keys.vault_cipher(&salt, &iv, &source.aad_id, version)?;
        let size = decrypt(&cipher, resp.bytes_stream(), out, |done| progress(done, total)).await?;
        Ok(Downloaded { etag, size })
    }

    /// Follows a direct download's 307 (headers `h`) to the object store, without credentials:
    /// the URL must be absolute and pass the transport check, and the object must be the
    /// length the gateway announced (what it holds is then checked by decryption as always).
    async fn fetch_direct(&self, h: &reqwest::header::HeaderMap) -> Result<reqwest::Response, ClientError> {
        let location = header(h, "location")?;
        let url = reqwest::Url::parse(&location).map_err(|_| ClientError::Protocol("location".into()))?;
        check_transport(url.as_str(), self.allow_insecure_http)?;
        let size: u64 =
            header(h, X_VAULT_SIZE)?.parse().map_err(|_| ClientError::Protocol(X_VAULT_SIZE.into()))?;
        let resp = self.http.get(url).send().await?;
        if resp.status() != StatusCode::OK || resp.content_length() != Some(size) {
            return Err(ClientError::Protocol(format!("direct download answered {}", resp.status())));
        }
        Ok(resp)
    }

    /// Deletes a vault, if it is still at `etag` when one is given.
    pub async fn delete(&self, vault_id: &str, etag: Option<&str>) -> Result<(), ClientError> {
        let mut req = self.authed(Method::DELETE, &vault_path(vault_id, "")).await?;
        if let Some(etag) = etag {
            req = req.header("if-match", etag);
        }
        ok(req.send().await?).await?;
        Ok(())
    }

    /// Encrypts `plaintext` (held in memory) and stores it through the JSON representation.
    pub async fn put(
        &self,
        keys: &Keys,
        vault_id: &str,
        plaintext: &[u8],
        precondition: &Precondition,
    ) -> Result<VaultInfo, ClientError> {
        let (salt, iv) = keys.fresh_vault_params();
        let ciphertext = keys.vault_cipher(&salt, &iv, vault_id, FORMAT_VERSION)?.seal_all(plaintext)?;
        let body = ReplaceRequest {
            ciphertext: STANDARD.encode(ciphertext),
            iv: STANDARD.encode(iv),
            salt: STANDARD.encode(&salt),
            version: Some(i64::from(FORMAT_VERSION)),
        };
        let (name, value) = precondition.header();
        let req = self.authed(Method::PUT, &vault_path(vault_id, "")).await?.json(&body).header(name, value);
        Ok(ok(req.send().await?).await?.json().await?)
    }

    /// Fetches and decrypts a vault through the JSON representation (falling back to the
    /// content URL for vaults above the JSON limit); returns the plaintext and the ETag.
    pub async fn get(&self, keys: &Keys, vault_id: &str) -> Result<(Vec<u8>, String), ClientError> {
        let mut out = Vec::new();
        let (got, _) = self.get_verified(keys, vault_id, &mut out, None, |_, _| {}).await?;
        Ok((out, got.etag))
    }

    /// Fetches and decrypts a vault into `out` (through the JSON representation, streaming
    /// from the content URL above the JSON limit), first refusing a revision older than
    /// `known` or other content under it (see [`VaultSeen::check`]). Returns what was read and
    /// the revision to remember.
    pub async fn get_verified<W>(
        &self,
        keys: &Keys,
        vault_id: &str,
        out: &mut W,
        known: Option<&VaultSeen>,
        progress: impl FnMut(u64, u64),
    ) -> Result<(Downloaded, VaultSeen), ClientError>
    where
        W: AsyncWrite + Unpin,
    {
        self.read_verified(keys, vault_id, &vault_path(vault_id, ""), out, known, progress).await
    }

    /// [`Client::get_verified`] of the JSON representation at `path` (the vault's, or one of its
    /// revisions'), its content (above the JSON limit) at `path` + `/content`: this client's
    /// own path, never one the server names.
    pub(super) async fn read_verified<W>(
        &self,
        keys: &Keys,
        vault_id: &str,
        path: &str,
        out: &mut W,
        known: Option<&VaultSeen>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<(Downloaded, VaultSeen), ClientError>
    where
        W: AsyncWrite + Unpin,
    {
        let resp = self.authed(Method::GET, path).await?.send().await?;
        let resp = ok(resp).await?;
        let etag = header(resp.headers(), "etag")?;
        let body: FullVault =
            resp.json().await.map_err(|e| ClientError::Protocol(format!("vault {vault_id}: {e}")))?;
        if body.meta.vault_id != vault_id {
            return Err(ClientError::Rollback {
                vault_id: vault_id.to_owned(),
                what: "the server answered with another vault".into(),
            });
        }
        let decode = |v: &str, name: &str| {
            STANDARD.decode(v).map_err(|_| ClientError::Protocol(format!("vault {name} is not base64")))
        };
        let salt = decode(&body.salt, "salt")?;
        let mut served = VaultSeen::new(body.meta.revision, &etag, Some(body.salt.clone()));
        if let Some(receipt) = &body.meta.receipt {
            served.vouched =
                keys.vouches_restore(vault_id, body.meta.revision, &salt, &decode(receipt, "receipt")?);
        }
        let aad_id = written_as(keys, vault_id, &body.meta)?;
        if let Some(known) = known {
            known.check(vault_id, &served)?;
        }
        let remember = known.map_or_else(|| served.clone(), |k| k.advance(&served));
        let Some(ciphertext) = &body.ciphertext else {
            let source = Source { content: format!("{path}/content"), aad_id };
            let got = self.stream_from(keys, vault_id, &source, out, Some(&served), &mut progress).await?;
            return Ok((got, remember));
        };
        let version = u32::try_from(body.meta.version).unwrap_or(0);
        let cipher = keys.vault_cipher(&salt, &decode(&body.iv, "iv")?, &aad_id, version)?;
        let ciphertext = decode(ciphertext, "ciphertext")?;
        let plain = cipher.open_all(&ciphertext)?;
        out.write_all(&plain).await?;
        out.flush().await?;
        progress(ciphertext.len() as u64, ciphertext.len() as u64);
        Ok((Downloaded { etag, size: plain.len() as u64 }, remember))
    }
}

/// Where a revision's ciphertext is, and the vault id it is bound to.
pub(super) struct Source {
    /// The content path.
    pub(super) content: String,
    /// The vault id in its associated data.
    pub(super) aad_id: String,
}

/// The vault id `info`'s ciphertext is bound to: its own, or the one it was written under
/// when the owner's rename receipt vouches for that (docs/CRYPTO.md section 7).
fn written_as(keys: &Keys, vault_id: &str, info: &VaultInfo) -> Result<String, ClientError> {
    let Some(written_as) = &info.written_as else { return Ok(vault_id.to_owned()) };
    let receipt = info.rename_receipt.as_deref().and_then(|r| STANDARD.decode(r).ok());
    if receipt.is_some_and(|r| keys.vouches_rename(written_as, vault_id, &r)) {
        return Ok(written_as.clone());
    }
    Err(ClientError::Rollback {
        vault_id: vault_id.to_owned(),
        what: format!("the server says this was written as {written_as:?}, without the owner's receipt"),
    })
}

/// The path of vault `id` (one percent-encoded segment) followed by `tail`.
pub(super) fn vault_path(id: &str, tail: &str) -> String {
    format!("{}{tail}", blindvault_wire::vaults::vault_path(id))
}
