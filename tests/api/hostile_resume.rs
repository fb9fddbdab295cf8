//! Resumable uploads against a hostile server, or a file that changed: whatever the server
//! answers, the client never sends two different ciphertexts for one offset of one upload
//! (that would be two plaintexts under one AES-GCM nonce), and a change ends the upload with
//! a clear error before anything made from the new plaintext leaves.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use blindvault::client::crypto::{CHUNK, Keys, sealed_len};
use blindvault::client::sent::SentLog;
use blindvault::client::{Client, ClientError, Precondition};
use tokio::io::{AsyncRead, ReadBuf};

use crate::helpers::{Deployment, on_both_deployments, rand_bytes, spawn_app};
use crate::hostile::{HostileProxy, Sent};

on_both_deployments!(a_changed_file_or_a_lying_offset_gets_nothing_sent_again);

const LEN: usize = 40 * CHUNK + 777;

/// `data` from `at`, breaking (like a dropped connection mid-body) after `left` bytes.
struct Breaking {
    data: Arc<Vec<u8>>,
    at: usize,
    left: usize,
}

impl AsyncRead for Breaking {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(std::io::Error::other("the connection broke")));
        }
        let n = buf.remaining().min(self.left).min(self.data.len() - self.at);
        buf.put_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        self.left -= n;
        Poll::Ready(Ok(()))
    }
}

/// One call to `finish_upload` whose first read breaks after `left` bytes and whose file
/// cannot be opened again afterwards: it ends with the server holding part of the upload.
async fn send_part(
    client: &Client,
    keys: &Keys,
    upload: &blindvault::client::resumable::PendingUpload,
    log: &SentLog,
    data: &Arc<Vec<u8>>,
    left: usize,
) {
    let opened = AtomicU32::new(0);
    let open = |at: u64| {
        let first = opened.fetch_add(1, Ordering::SeqCst) == 0;
        let data = Arc::clone(data);
        async move {
            match first {
                true => Ok(Breaking { data, at: at as usize, left }),
                false => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone")),
            }
        }
    };
    let err = client.finish_upload(keys, upload, log, open, Arc::new(|_, _| {})).await.unwrap_err();
    assert!(matches!(err, ClientError::Io(_)), "{err}");
}

/// Every byte offset of the upload at `path` received one value, whatever was sent again.
fn assert_one_ciphertext_per_offset(sent: &[Sent], path: &str, total: u64) {
    let mut seen: Vec<Option<u8>> = vec![None; total as usize];
    for patch in sent.iter().filter(|s| s.method == "PATCH" && s.path == path) {
        let offset: usize = patch.headers["upload-offset"].to_str().unwrap().parse().unwrap();
        for (i, byte) in patch.body.iter().enumerate() {
            let slot = &mut seen[offset + i];
            assert!(slot.is_none_or(|b| b == *byte), "offset {} was sent with two values", offset + i);
            *slot = Some(*byte);
        }
    }
}

async fn a_changed_file_or_a_lying_offset_gets_nothing_sent_again(d: Deployment) {
    let app = spawn_app(&d).await;
    let proxy = HostileProxy::start(&app.address).await;
    let client = Client::new(&proxy.address).unwrap();
    let pw = "resume password";
    client.register("resumer", pw, 600_000).await.unwrap();
    let (keys, _) = client.login("resumer", pw, &[]).await.unwrap();
    let total = sealed_len(LEN as u64);
    for case in ["the file changed", "the server rewinds", "the server rewinds and the file changed"] {
        let vault = case.replace(' ', "-");
        let data = Arc::new(rand_bytes(LEN));
        let upload = client.begin_upload(&keys, &vault, LEN as u64, &Precondition::Absent).await.unwrap();
        let log = SentLog::in_memory();
        // Twice cut short (chunks go out in batches of 16): the second call resumes where the
        // server stands.
        send_part(&client, &keys, &upload, &log, &data, 17 * CHUNK + 100).await;
        send_part(&client, &keys, &upload, &log, &data, 18 * CHUNK).await;
        let mut held = 0;
        for _ in 0..100 {
            held = client.upload_offset(&upload).await.unwrap().unwrap();
            if held >= log.acknowledged().await && held > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(held > 0 && held < total, "{case}: the server holds part of the upload ({held})");
        assert!(log.acknowledged().await > 0, "{case}: an offset was acknowledged");

        let mut now = (*data).clone();
        if case.contains("changed") {
            now[3 * CHUNK + 17] ^= 0x80; // a byte the server already holds
        }
        if case.contains("rewinds") {
            proxy.rewrite(|sent, answer| {
                if sent.method == "HEAD" && sent.path.starts_with("/api/v1/uploads/") {
                    answer.headers.insert("upload-offset", 0.into());
                }
            });
        }
        let before = proxy.sent().len();
        let now = Arc::new(now);
        let open = |at: u64| {
            let data = Arc::clone(&now);
            async move { Ok(Breaking { data, at: at as usize, left: usize::MAX }) }
        };
        let err = client.finish_upload(&keys, &upload, &log, open, Arc::new(|_, _| {})).await.unwrap_err();
        let ClientError::CannotResume(why) = &err else { panic!("{case}: {err}") };
        let expected = if case.contains("changed") {
            "is not what this upload began with"
        } else {
            "after acknowledging"
        };
        assert!(why.contains(expected), "{case}: {why}");
        assert!(err.to_string().contains("start a new upload"), "{case}: {err}");
        let after = proxy.sent();
        assert!(after[before..].iter().all(|s| s.method != "PATCH"), "{case}: nothing was sent again");
        assert_one_ciphertext_per_offset(&after, &upload.path, total);
        proxy.honest();

        // The caller abandons it; a new upload (fresh salt and IV) stores the file as it is now.
        client.cancel_upload(&upload).await.unwrap();
        assert_eq!(client.upload_offset(&upload).await.unwrap(), None, "{case}: the upload was ended");
        let fresh = client.begin_upload(&keys, &vault, LEN as u64, &Precondition::Absent).await.unwrap();
        assert_ne!((&fresh.salt, &fresh.iv), (&upload.salt, &upload.iv), "{case}");
        let open = |at: u64| {
            let data = Arc::clone(&now);
            async move { Ok(Breaking { data, at: at as usize, left: usize::MAX }) }
        };
        client.finish_upload(&keys, &fresh, &SentLog::in_memory(), open, Arc::new(|_, _| {})).await.unwrap();
        let (back, _) = client.get(&keys, &vault).await.unwrap();
        assert!(back == *now, "{case}: the vault is the file as it is now");
    }
}
