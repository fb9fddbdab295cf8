//! Encryption and decryption as streams, one chunk at a time: memory stays constant whatever
//! the size of the vault.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::crypto::{CHUNK, CryptoError, TAG, VaultCipher};

/// Reads up to one chunk; shorter only at the end of the input.
async fn read_chunk<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; CHUNK];
    let mut filled = 0;
    while filled < CHUNK {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

struct Encrypting<R> {
    reader: R,
    cipher: VaultCipher,
    counter: u64,
    ahead: Option<Vec<u8>>,
    done: bool,
}

/// The ciphertext of everything `reader` yields, as a stream of sealed chunks. One chunk is
/// read ahead to know which chunk is the last.
pub fn encrypt<R>(
    cipher: VaultCipher,
    reader: R,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static
where
    R: AsyncRead + Unpin + Send + 'static,
{
    encrypt_from(cipher, reader, 0)
}

/// Like [`encrypt`], for a `reader` positioned at plaintext chunk `first_chunk`: the sealed
/// chunks from that one on, byte for byte what [`encrypt`] would have produced there. A
/// resumed upload regenerates its ciphertext this way instead of keeping it.
pub fn encrypt_from<R>(
    cipher: VaultCipher,
    reader: R,
    first_chunk: u64,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let state = Encrypting { reader, cipher, counter: first_chunk, ahead: None, done: false };
    futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let step = async {
            let current = match s.ahead.take() {
                Some(chunk) => chunk,
                None => read_chunk(&mut s.reader).await?,
            };
            let next = if current.len() == CHUNK { read_chunk(&mut s.reader).await? } else { Vec::new() };
            let last = next.is_empty();
            let sealed = s.cipher.seal(s.counter, last, &current).map_err(std::io::Error::other)?;
            s.counter += 1;
            s.done = last;
            s.ahead = (!last).then_some(next);
            Ok(Bytes::from(sealed))
        }
        .await;
        if step.is_err() {
            s.done = true;
        }
        Some((step, s))
    })
}

/// Why a streamed decryption failed.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// The ciphertext did not authenticate.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Reading the ciphertext failed.
    #[error("download failed: {0}")]
    Source(String),
    /// Writing the plaintext failed.
    #[error("writing the output failed: {0}")]
    Sink(#[from] std::io::Error),
}

/// Decrypts a stream of ciphertext into `writer`, chunk by chunk; calls `progress` with the
/// ciphertext bytes consumed so far. Returns the plaintext length.
pub async fn decrypt<S, E, W>(
    cipher: &VaultCipher,
    body: S,
    writer: &mut W,
    mut progress: impl FnMut(u64),
) -> Result<u64, DecryptError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
    W: AsyncWrite + Unpin,
{
    let sealed = CHUNK + TAG;
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::with_capacity(2 * sealed);
    let (mut counter, mut consumed, mut written) = (0u64, 0u64, 0u64);
    while let Some(part) = body.next().await {
        let part = part.map_err(|e| DecryptError::Source(e.to_string()))?;
        consumed += part.len() as u64;
        buf.extend_from_slice(&part);
        // A full chunk followed by more bytes is certainly not the last one.
        while buf.len() > sealed {
            let chunk = buf.split_to(sealed);
            let plain = cipher.open(counter, false, &chunk)?;
            writer.write_all(&plain).await?;
            written += plain.len() as u64;
            counter += 1;
        }
        progress(consumed);
    }
    if buf.len() < TAG {
        return Err(CryptoError::Tampered.into());
    }
    let plain = cipher.open(counter, true, &buf)?;
    writer.write_all(&plain).await?;
    writer.flush().await?;
    Ok(written + plain.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keys;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn streams_match_the_in_memory_format() {
        let keys = Keys::derive("bob", "pw", &[1u8; 32], 1000);
        let (salt, iv) = keys.fresh_vault_params();
        for len in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let cipher = keys.vault_cipher(&salt, &iv, "v", 1).unwrap();
            let parts: Vec<Bytes> =
                encrypt(cipher, std::io::Cursor::new(plain.clone())).try_collect().await.unwrap();
            let streamed = parts.concat();
            let whole = keys.vault_cipher(&salt, &iv, "v", 1).unwrap();
            assert_eq!(streamed, whole.seal_all(&plain).unwrap(), "len {len}");
            // Decrypt from awkwardly sized pieces.
            let pieces: Vec<Result<Bytes, std::io::Error>> =
                streamed.chunks(7777).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            let mut out = Vec::new();
            let n = decrypt(&whole, futures::stream::iter(pieces), &mut out, |_| {}).await.unwrap();
            assert_eq!((n as usize, out), (len, plain));
        }
    }

    #[tokio::test]
    async fn a_truncated_stream_is_refused() {
        let keys = Keys::derive("bob", "pw", &[1u8; 32], 1000);
        let (salt, iv) = keys.fresh_vault_params();
        let cipher = keys.vault_cipher(&salt, &iv, "v", 1).unwrap();
        let sealed = cipher.seal_all(&vec![5u8; 3 * CHUNK]).unwrap();
        let cut = vec![Ok::<_, std::io::Error>(Bytes::copy_from_slice(&sealed[..2 * (CHUNK + TAG)]))];
        let mut out = Vec::new();
        let err = decrypt(&cipher, futures::stream::iter(cut), &mut out, |_| {}).await.unwrap_err();
        assert!(matches!(err, DecryptError::Crypto(CryptoError::Tampered)));
    }
}
