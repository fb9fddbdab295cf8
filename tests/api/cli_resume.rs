//! `blindvault put` of a large file as a resumable upload: connections cut mid-upload resume
//! by themselves, and a CLI killed mid-upload continues where the server stands when `put`
//! runs again. Both end with the file byte for byte.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{Deployment, on_both_deployments, rand_bytes, spawn_app};
use crate::process::Cli;

on_both_deployments!(a_large_put_survives_cut_connections, a_killed_put_continues_where_it_stopped);

const PASSWORD: &str = "correct horse battery staple";
const RESUMABLE: [(&str, &str); 2] =
    [("BLINDVAULT_PASSWORD", PASSWORD), ("BLINDVAULT_RESUMABLE_ABOVE", "1048576")];

/// A proxy that cuts its first `cuts` connections to carry more than `limit` bytes upstream.
struct CuttingProxy {
    port: u16,
    cuts_left: Arc<AtomicI64>,
}

impl CuttingProxy {
    async fn start(upstream: String, limit: usize, cuts: i64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cuts_left = Arc::new(AtomicI64::new(cuts));
        let shared = Arc::clone(&cuts_left);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, cuts_left) = (upstream.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let (mut buf, mut sent) = (vec![0u8; 64 * 1024], 0usize);
                        while let Ok(n @ 1..) = cr.read(&mut buf).await {
                            sent += n;
                            if sent > limit && cuts_left.fetch_sub(1, Ordering::SeqCst) > 0 {
                                return;
                            }
                            if sw.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let down = tokio::io::copy(&mut sr, &mut cw);
                    tokio::select! { () = up => {}, _ = down => {} }
                });
            }
        });
        Self { port, cuts_left }
    }
}

fn assert_round_trip(cli: &Cli, dir: &std::path::Path, data: &[u8]) {
    let back = dir.join("back.bin");
    let out = cli.run(PASSWORD, &["get", "big.bin", "-o", back.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(&back).unwrap() == data, "the vault decrypts to the file, byte for byte");
    let session = std::fs::read_to_string(cli.config.join("session.json")).unwrap();
    let session: serde_json::Value = serde_json::from_str(&session).unwrap();
    assert_eq!(session["uploads"], serde_json::json!({}), "no unfinished upload is left in the session");
}

async fn a_large_put_survives_cut_connections(d: Deployment) {
    let app = spawn_app(&d).await;
    let proxy = CuttingProxy::start(app.address.trim_start_matches("http://").to_owned(), 6 << 20, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(&format!("http://127.0.0.1:{}", proxy.port), dir.path(), "laptop");
    cli.ok(PASSWORD, &["register", &format!("u{}", rand::random::<u32>())]);
    let data = rand_bytes(40 << 20);
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &data).unwrap();
    let out = cli.run_with(&RESUMABLE, &["put", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(proxy.cuts_left.load(Ordering::SeqCst) <= 0, "the proxy did cut the upload three times");
    assert_round_trip(&cli, dir.path(), &data);
}

async fn a_killed_put_continues_where_it_stopped(d: Deployment) {
    let app = spawn_app(&d).await;
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(&app.address, dir.path(), "laptop");
    let username = format!("u{}", rand::random::<u32>());
    cli.ok(PASSWORD, &["register", &username]);
    let user = app.stored_user(&username).await.id;
    let data = rand_bytes(96 << 20);
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &data).unwrap();
    let mut child = cli.command(&RESUMABLE, &["put", file.to_str().unwrap()]).spawn().unwrap();
    // Kill it a moment after its PATCH started (the server holds the upload's lease).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let id = loop {
        assert!(std::time::Instant::now() < deadline, "the upload never started");
        let session = std::fs::read_to_string(cli.config.join("session.json")).unwrap_or_default();
        let path = serde_json::from_str::<serde_json::Value>(&session)
            .ok()
            .and_then(|s| s["uploads"]["big.bin"]["path"].as_str().map(str::to_owned));
        if let Some(id) =
            path.and_then(|p| p.rsplit('/').next().and_then(|id| uuid::Uuid::parse_str(id).ok()))
            && app.state.vaults.upload(user, id).await.is_ok_and(|u| u.lease_until.is_some())
        {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    child.kill().unwrap();
    let _ = child.wait();
    // The server keeps what arrived before the connection died.
    let held =
        app.state.vaults.settled_upload(user, id).await.expect("the upload is still there").upload_offset;
    assert!(held > 0 && held < data.len() as i64, "killed mid-upload, the server holds {held} bytes");
    let out = cli.run_with(&RESUMABLE, &["put", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("resuming the upload of big.bin: the server holds"), "{stderr}");
    assert_round_trip(&cli, dir.path(), &data);
}
