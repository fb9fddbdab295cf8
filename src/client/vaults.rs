//! Vault operations of the [`Client`]: listing, streaming and in-memory reads and writes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};

use super::crypto::{FORMAT_VERSION, Keys};
use super::error::ClientError;
use super::sdk::{Client, Downloaded, Precondition, VaultHead, VaultInfo, header, ok};
use super::stream::{decrypt, encrypt};

impl Client {
    /// Every vault, all pages.
    pub async fn list(&self) -> Result<Vec<VaultInfo>, ClientError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/vault?limit=1000&cursor={c}"),
                None => "/api/v1/vault?limit=1000".to_owned(),
            };
            let req = self.authed(Method::GET, &path).await?;
            let page: Value = ok(req.send().await?).await?.json().await?;
            let items: Vec<VaultInfo> = serde_json::from_value(page["items"].clone())
                .map_err(|e| ClientError::Protocol(format!("vault list: {e}")))?;
            all.extend(items);
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(all),
            }
        }
    }

    /// The stored parameters of a vault, or `None` if it does not exist.
    pub async fn head(&self, vault_id: &str) -> Result<Option<VaultHead>, ClientError> {
        let resp =
            self.authed(Method::HEAD, &format!("/api/v1/vault/{vault_id}/content")).await?.send().await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
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
            iv: decode("x-vault-iv")?,
            salt: decode("x-vault-salt")?,
            version: header(h, "x-vault-version")?
                .parse()
                .map_err(|_| ClientError::Protocol("x-vault-version".into()))?,
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
        let (name, value) = match precondition {
            Precondition::Absent => ("if-none-match", "*".to_owned()),
            Precondition::Etag(etag) => ("if-match", etag.clone()),
        };
        let req = self
            .authed(Method::PUT, &format!("/api/v1/vault/{vault_id}/content"))
            .await?
            .header("content-type", "application/octet-stream")
            .header("x-vault-iv", STANDARD.encode(iv))
            .header("x-vault-salt", STANDARD.encode(&salt))
            .header("x-vault-version", FORMAT_VERSION.to_string())
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
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Downloaded, ClientError>
    where
        W: AsyncWrite + Unpin,
    {
        let resp =
            self.authed(Method::GET, &format!("/api/v1/vault/{vault_id}/content")).await?.send().await?;
        let resp = ok(resp).await?;
        let h = resp.headers().clone();
        let etag = header(&h, "etag")?;
        let total = resp.content_length().unwrap_or(0);
        let iv = STANDARD
            .decode(header(&h, "x-vault-iv")?)
            .map_err(|_| ClientError::Protocol("x-vault-iv".into()))?;
        let salt = STANDARD
            .decode(header(&h, "x-vault-salt")?)
            .map_err(|_| ClientError::Protocol("x-vault-salt".into()))?;
        let version: u32 = header(&h, "x-vault-version")?
            .parse()
            .map_err(|_| ClientError::Protocol("x-vault-version".into()))?;
        let cipher = keys.vault_cipher(&salt, &iv, vault_id, version)?;
        let size = decrypt(&cipher, resp.bytes_stream(), out, |done| progress(done, total)).await?;
        Ok(Downloaded { etag, size })
    }

    /// Deletes a vault, if it is still at `etag` when one is given.
    pub async fn delete(&self, vault_id: &str, etag: Option<&str>) -> Result<(), ClientError> {
        let mut req = self.authed(Method::DELETE, &format!("/api/v1/vault/{vault_id}")).await?;
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
        let body = json!({
            "ciphertext": STANDARD.encode(ciphertext),
            "iv": STANDARD.encode(iv),
            "salt": STANDARD.encode(&salt),
            "version": FORMAT_VERSION,
        });
        let req = self.authed(Method::PUT, &format!("/api/v1/vault/{vault_id}")).await?.json(&body);
        let req = match precondition {
            Precondition::Absent => req.header("if-none-match", "*"),
            Precondition::Etag(etag) => req.header("if-match", etag),
        };
        Ok(ok(req.send().await?).await?.json().await?)
    }

    /// Fetches and decrypts a vault through the JSON representation (falling back to the
    /// content URL for vaults above the JSON limit); returns the plaintext and the ETag.
    pub async fn get(&self, keys: &Keys, vault_id: &str) -> Result<(Vec<u8>, String), ClientError> {
        let resp = self.authed(Method::GET, &format!("/api/v1/vault/{vault_id}")).await?.send().await?;
        let resp = ok(resp).await?;
        let etag = header(resp.headers(), "etag")?;
        let body: Value = resp.json().await?;
        let Some(ciphertext) = body["ciphertext"].as_str() else {
            let mut out = Vec::new();
            let got = self.get_stream(keys, vault_id, &mut out, |_, _| {}).await?;
            return Ok((out, got.etag));
        };
        let field = |name: &str| -> Result<Vec<u8>, ClientError> {
            body[name]
                .as_str()
                .and_then(|v| STANDARD.decode(v).ok())
                .ok_or_else(|| ClientError::Protocol(format!("vault {name}")))
        };
        let version = body["version"].as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
        let cipher = keys.vault_cipher(&field("salt")?, &field("iv")?, vault_id, version)?;
        let ciphertext =
            STANDARD.decode(ciphertext).map_err(|_| ClientError::Protocol("ciphertext".into()))?;
        Ok((cipher.open_all(&ciphertext)?, etag))
    }
}
