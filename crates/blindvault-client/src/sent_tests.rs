use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::*;
use crate::crypto::{Keys, VaultCipher};
use crate::stream::encrypt_from;

fn cipher(keys: &Keys, salt: &[u8], iv: &[u8]) -> VaultCipher {
    keys.vault_cipher(salt, iv, "v", 1).unwrap()
}

fn fixture() -> (Keys, Vec<u8>, [u8; 12]) {
    let keys = Keys::derive("bob", "pw", &[1u8; 32], 1000);
    let (salt, iv) = keys.fresh_vault_params();
    (keys, salt, iv)
}

/// Sends `plain` from chunk `first` through `log`: the bytes that would go out, or the refusal.
async fn send(log: &SentLog, c: VaultCipher, plain: &[u8], first: u64) -> Result<Vec<u8>, ClientError> {
    let reader = std::io::Cursor::new(plain[(first as usize * CHUNK).min(plain.len())..].to_vec());
    let parts: Vec<Bytes> =
        log.checked(encrypt_from(c, reader, first), first, plain.len() as u64).try_collect().await?;
    Ok(parts.concat())
}

#[tokio::test]
async fn unchanged_plaintext_is_sent_again_byte_for_byte() {
    let (keys, salt, iv) = fixture();
    let plain: Vec<u8> = (0..40 * CHUNK + 123).map(|i| (i % 251) as u8).collect();
    let log = SentLog::in_memory();
    let first = send(&log, cipher(&keys, &salt, &iv), &plain, 0).await.unwrap();
    assert_eq!(first, cipher(&keys, &salt, &iv).seal_all(&plain).unwrap());
    assert_eq!(log.chunks().await, 41, "every chunk is recorded");
    let again = send(&log, cipher(&keys, &salt, &iv), &plain, 17).await.unwrap();
    assert_eq!(again, first[17 * (CHUNK + TAG)..], "a resumed send is the same ciphertext");
    log.verify(
        encrypt_from(cipher(&keys, &salt, &iv), std::io::Cursor::new(plain), 0),
        40 * CHUNK as u64 + 123,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_changed_chunk_is_never_sent_under_a_used_nonce() {
    let (keys, salt, iv) = fixture();
    let plain = vec![7u8; 40 * CHUNK];
    let log = SentLog::in_memory();
    send(&log, cipher(&keys, &salt, &iv), &plain, 0).await.unwrap();
    let mut changed = plain.clone();
    changed[21 * CHUNK + 5] ^= 1;
    // Resumed at chunk 17: chunks 17..21 go out as before, chunk 21 and what follows do not.
    let reader = std::io::Cursor::new(changed[17 * CHUNK..].to_vec());
    let mut out = Vec::new();
    let mut stream = std::pin::pin!(log.checked(
        encrypt_from(cipher(&keys, &salt, &iv), reader, 17),
        17,
        plain.len() as u64
    ));
    let err = loop {
        match stream.next().await {
            Some(Ok(part)) => out.extend_from_slice(&part),
            Some(Err(e)) => break e,
            None => panic!("the changed chunk was sent"),
        }
    };
    assert!(matches!(&err, ClientError::CannotResume(why) if why.contains("chunk 21")), "{err}");
    assert!(out.len() <= 4 * (CHUNK + TAG), "nothing from chunk 21 on left: {} bytes", out.len());
    assert!(log.refusal().await.is_some(), "the refusal is remembered for the caller");
    // Checked from the start, the change is found before anything is sent.
    let verify = log.verify(
        encrypt_from(cipher(&keys, &salt, &iv), std::io::Cursor::new(changed), 0),
        plain.len() as u64,
    );
    assert!(matches!(verify.await, Err(ClientError::CannotResume(_))));
}

#[tokio::test]
async fn a_file_of_another_length_is_refused() {
    let (keys, salt, iv) = fixture();
    let plain = vec![1u8; 3 * CHUNK + 10];
    let log = SentLog::in_memory();
    send(&log, cipher(&keys, &salt, &iv), &plain, 0).await.unwrap();
    let shorter = &plain[..3 * CHUNK];
    let reader = std::io::Cursor::new(shorter.to_vec());
    let verify = log.verify(encrypt_from(cipher(&keys, &salt, &iv), reader, 0), plain.len() as u64).await;
    assert!(matches!(verify, Err(ClientError::CannotResume(_))), "{verify:?}");
}

#[tokio::test]
async fn offsets_only_move_forward_and_never_past_what_was_sent() {
    let (keys, salt, iv) = fixture();
    let log = SentLog::in_memory();
    log.acknowledge(0).await.unwrap();
    assert!(matches!(log.acknowledge(1).await, Err(ClientError::CannotResume(_))), "nothing was sent yet");
    send(&log, cipher(&keys, &salt, &iv), &vec![0u8; 4 * CHUNK], 0).await.unwrap();
    log.acknowledge(2 * (CHUNK + TAG) as u64).await.unwrap();
    assert_eq!(log.acknowledged().await, 2 * (CHUNK + TAG) as u64);
    let lie = log.acknowledge(0).await;
    assert!(
        matches!(&lie, Err(ClientError::CannotResume(why)) if why.contains("after acknowledging")),
        "{lie:?}"
    );
}

#[tokio::test]
async fn the_log_is_on_disk_before_a_chunk_leaves_and_survives_the_process() {
    let (keys, salt, iv) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upload.sent");
    let plain: Vec<u8> = (0..50 * CHUNK).map(|i| (i % 13) as u8).collect();
    let log = SentLog::create(&path).await.unwrap();
    assert!(SentLog::create(&path).await.is_err(), "an existing log is never replaced");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let reader = std::io::Cursor::new(plain.clone());
    let mut stream = std::pin::pin!(log.checked(
        encrypt_from(cipher(&keys, &salt, &iv), reader, 0),
        0,
        plain.len() as u64
    ));
    let mut yielded = 0u64;
    while let Some(part) = stream.next().await {
        yielded += part.unwrap().len() as u64 / (CHUNK + TAG) as u64;
        let on_disk = std::fs::read(&path).unwrap().len() as u64 / (TAG as u64 + 1);
        assert!(on_disk >= yielded, "{yielded} chunks out, {on_disk} recorded");
    }
    log.acknowledge(3 * (CHUNK + TAG) as u64).await.unwrap();
    // A torn record at the end (a crash mid-write) is ignored.
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"T123").unwrap();
    let reopened = SentLog::open(&path).await.unwrap();
    assert_eq!((reopened.chunks().await, reopened.acknowledged().await), (50, 3 * (CHUNK + TAG) as u64));
    let mut changed = plain.clone();
    changed[0] ^= 1;
    let verify = reopened.verify(
        encrypt_from(cipher(&keys, &salt, &iv), std::io::Cursor::new(changed), 0),
        plain.len() as u64,
    );
    assert!(verify.await.is_err(), "what an earlier process sent is checked");
    reopened.remove().await.unwrap();
    assert!(!path.exists());
}
