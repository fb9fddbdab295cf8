//! Direct uploads: the ciphertext goes to the object store part by part through the URLs the
//! server signs, so it never passes through the gateway; the server commits it. Where the
//! server offers none (local-file storage), or the object store cannot be reached for the
//! first part, the same ciphertext goes through the gateway instead.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blindvault_wire::{
    DirectCommitRequest, DirectPartDone, DirectPartRequest, DirectPartResponse, DirectUploadRequest,
    DirectUploadResponse,
};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;

use super::crypto::{FORMAT_VERSION, Keys, sealed_len};
use super::error::ClientError;
use super::sdk::{Client, Precondition, VaultInfo, header, ok};
use super::stream::encrypt;
use super::vaults::vault_path;
use super::verify::check_transport;

/// The problem code of a server whose storage takes no direct uploads.
const DIRECT_UNAVAILABLE: &str = "direct_unavailable";
/// The largest part this client buffers (a server asking for more is refused).
const MAX_PART: u64 = 64 * 1024 * 1024;
/// Attempts at sending one part (each with a fresh URL).
const ATTEMPTS: usize = 3;

type Sealed = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

impl Client {
    /// Encrypts `plaintext`, which is exactly `length` bytes, and stores it as vault
    /// `vault_id`: straight to the object store when the server offers direct uploads,
    /// through the gateway (as [`Client::put_stream`]) when it does not. Memory holds one part
    /// (8 MiB) whatever the size.
    pub async fn put_sized<R>(
        &self,
        keys: &Keys,
        vault_id: &str,
        plaintext: R,
        length: u64,
        precondition: &Precondition,
    ) -> Result<VaultInfo, ClientError>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let (salt, iv) = keys.fresh_vault_params();
        let cipher = keys.vault_cipher(&salt, &iv, vault_id, FORMAT_VERSION)?;
        let sealed_length = sealed_len(length);
        let request = DirectUploadRequest {
            length: sealed_length,
            iv: STANDARD.encode(iv),
            salt: STANDARD.encode(&salt),
            version: Some(i64::from(FORMAT_VERSION)),
        };
        let (name, value) = precondition.header();
        let path = vault_path(vault_id, "/direct-uploads");
        let resp = self.authed(Method::POST, &path).await?.header(name, value).json(&request).send().await?;
        let sealed: Sealed = Box::pin(encrypt(cipher, plaintext));
        let created = match resp.status() {
            // A server without direct uploads, or one that offers none here.
            StatusCode::NOT_FOUND | StatusCode::CONFLICT => {
                let status = resp.status();
                let refused = ok(resp).await.err();
                let unavailable = refused.as_ref().and_then(ClientError::code) == Some(DIRECT_UNAVAILABLE);
                if status == StatusCode::NOT_FOUND || unavailable {
                    let body = reqwest::Body::wrap_stream(exactly(sealed, sealed_length));
                    return self.send_sealed(vault_id, body, (&salt, &iv), precondition).await;
                }
                return Err(refused.unwrap_or_else(|| ClientError::Protocol("direct upload creation".into())));
            }
            _ => ok(resp).await?.json::<DirectUploadResponse>().await?,
        };
        let expected = sealed_length.div_ceil(created.part_size.max(1)).max(1);
        if created.part_size == 0 || created.part_size > MAX_PART || u64::from(created.parts) != expected {
            let _ = self.cancel_direct(vault_id, &created).await;
            return Err(ClientError::Protocol("direct upload parts".into()));
        }
        let upload = Upload { vault_id, created: &created, total: sealed_length };
        match self.send_parts(&upload, sealed).await {
            Ok(parts) => {
                let commit = format!("{path}/{}/commit", created.upload_id);
                let body = DirectCommitRequest { parts };
                Ok(ok(self.authed(Method::POST, &commit).await?.json(&body).send().await?)
                    .await?
                    .json()
                    .await?)
            }
            // The object store is out of reach from here: the same ciphertext through the gateway.
            Err(Unsent::Unreachable(rest)) => {
                let _ = self.cancel_direct(vault_id, &created).await;
                let body = reqwest::Body::wrap_stream(exactly(rest, sealed_length));
                self.send_sealed(vault_id, body, (&salt, &iv), precondition).await
            }
            Err(Unsent::Failed(e)) => {
                let _ = self.cancel_direct(vault_id, &created).await;
                Err(e)
            }
        }
    }

    /// Sends every part; on a first part that cannot reach the object store, gives back the
    /// whole ciphertext stream (that part, then the rest) for the gateway.
    async fn send_parts(&self, up: &Upload<'_>, mut sealed: Sealed) -> Result<Vec<DirectPartDone>, Unsent> {
        let mut done = Vec::with_capacity(up.created.parts as usize);
        let mut buffer = BytesMut::new();
        for number in 1..=up.created.parts {
            let start = u64::from(number - 1) * up.created.part_size;
            let want = (up.total - start).min(up.created.part_size) as usize;
            while buffer.len() < want {
                match sealed.next().await {
                    Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                    Some(Err(e)) => return Err(Unsent::Failed(ClientError::Io(e))),
                    None => {
                        return Err(Unsent::Failed(ClientError::Protocol("the input ended early".into())));
                    }
                }
            }
            let part = buffer.split_to(want).freeze();
            match self.send_part(up, number, &part).await {
                Ok(etag) => {
                    done.push(DirectPartDone { etag, sha256: STANDARD.encode(Sha256::digest(&part)) })
                }
                Err(PartError::Unreachable) if number == 1 => {
                    let head = futures::stream::iter([Ok(part), Ok(buffer.freeze())]);
                    return Err(Unsent::Unreachable(Box::pin(head.chain(sealed))));
                }
                Err(PartError::Unreachable) => {
                    return Err(Unsent::Failed(ClientError::Protocol(
                        "the object store stopped answering".into(),
                    )));
                }
                Err(PartError::Client(e)) => return Err(Unsent::Failed(e)),
            }
        }
        if !buffer.is_empty() || sealed.next().await.is_some() {
            return Err(Unsent::Failed(ClientError::Protocol("the input is longer than its length".into())));
        }
        Ok(done)
    }

    /// Sends part `number`: asks for its URL, then `PUT`s it there; its ETag.
    async fn send_part(&self, up: &Upload<'_>, number: u32, part: &Bytes) -> Result<String, PartError> {
        let sha256 = STANDARD.encode(Sha256::digest(part));
        let path =
            format!("{}/{}/parts/{number}", vault_path(up.vault_id, "/direct-uploads"), up.created.upload_id);
        let mut last = PartError::Unreachable;
        for _ in 0..ATTEMPTS {
            let req =
                self.authed(Method::POST, &path).await?.json(&DirectPartRequest { sha256: sha256.clone() });
            let target: DirectPartResponse = ok(req.send().await?).await?.json().await?;
            if target.length != part.len() as u64 {
                return Err(PartError::Client(ClientError::Protocol("direct part length".into())));
            }
            check_transport(&target.url, self.allow_insecure_http)?;
            let mut put = self.http.put(&target.url).body(part.clone());
            for (name, value) in &target.headers {
                put = put.header(name, value);
            }
            match put.send().await {
                Ok(resp) if resp.status().is_success() => {
                    return header(resp.headers(), "etag").map_err(PartError::Client);
                }
                Ok(resp) if resp.status().is_client_error() => {
                    let status = resp.status();
                    return Err(PartError::Client(ClientError::Protocol(format!(
                        "the object store refused a part ({status})"
                    ))));
                }
                Ok(_) => last = PartError::Unreachable,
                Err(_) => last = PartError::Unreachable,
            }
        }
        Err(last)
    }

    async fn cancel_direct(&self, vault_id: &str, created: &DirectUploadResponse) -> Result<(), ClientError> {
        let path = format!("{}/{}", vault_path(vault_id, "/direct-uploads"), created.upload_id);
        ok(self.authed(Method::DELETE, &path).await?.send().await?).await?;
        Ok(())
    }
}

/// `sealed`, failing at its end unless it held exactly `expected` bytes (an input that is not
/// the length it was declared to be breaks the request off, and the server commits nothing).
fn exactly(sealed: Sealed, expected: u64) -> Sealed {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&seen);
    let body = sealed.inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            counter.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let end = futures::stream::once(async move {
        let seen = seen.load(std::sync::atomic::Ordering::Relaxed);
        (seen != expected).then(|| {
            Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the input is not the length declared"))
        })
    })
    .filter_map(|end| async move { end });
    Box::pin(body.chain(end))
}

/// A direct upload under way.
struct Upload<'a> {
    vault_id: &'a str,
    created: &'a DirectUploadResponse,
    /// Ciphertext bytes in all.
    total: u64,
}

/// Why the parts were not all sent.
enum Unsent {
    /// The first part could not reach the object store: the whole ciphertext, to send another way.
    Unreachable(Sealed),
    /// Anything else.
    Failed(ClientError),
}

/// Why one part was not sent.
enum PartError {
    /// The object store did not answer (or answered 5xx) on every attempt.
    Unreachable,
    /// The server or the object store refused it.
    Client(ClientError),
}

impl From<ClientError> for PartError {
    fn from(e: ClientError) -> Self {
        PartError::Client(e)
    }
}

impl From<reqwest::Error> for PartError {
    fn from(e: reqwest::Error) -> Self {
        PartError::Client(e.into())
    }
}
