//! `blindvault put` of a large file as a resumable upload: connections cut mid-upload resume
//! by themselves, and a CLI killed mid-upload continues where the server stands when `put`
//! runs again, unless the file changed in between (even keeping its size and mtime): then the
//! upload is abandoned and a new one starts under a fresh salt and IV. All end with the file
//! byte for byte.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use crate::helpers::{Deployment, TestApp, on_both_deployments, rand_bytes, spawn_app};
use crate::process::Cli;

on_both_deployments!(
    a_large_put_survives_cut_connections,
    a_killed_put_continues_where_it_stopped,
    a_file_replaced_keeping_size_and_mtime_is_uploaded_afresh,
);

const PASSWORD: &str = "correct horse battery staple";
const RESUMABLE: [(&str, &str); 2] =
    [("BLINDVAULT_PASSWORD", PASSWORD), ("BLINDVAULT_RESUMABLE_ABOVE", "1048576")];

/// A proxy that cuts its first `cuts` connections to carry more than `limit` bytes upstream,
/// and waits `pace` microseconds after each read from the client (0: none).
struct CuttingProxy {
    port: u16,
    cuts_left: Arc<AtomicI64>,
    pace: Arc<AtomicU64>,
}

impl CuttingProxy {
    async fn start(upstream: String, limit: usize, cuts: i64) -> Self {
        Self::paced(upstream, limit, cuts, 0).await
    }

    async fn paced(upstream: String, limit: usize, cuts: i64, pace_micros: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cuts_left = Arc::new(AtomicI64::new(cuts));
        let pace = Arc::new(AtomicU64::new(pace_micros));
        let (shared, shared_pace) = (Arc::clone(&cuts_left), Arc::clone(&pace));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, cuts_left, pace) =
                    (upstream.clone(), Arc::clone(&shared), Arc::clone(&shared_pace));
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
                            let micros = pace.load(Ordering::Relaxed);
                            if micros > 0 {
                                tokio::time::sleep(Duration::from_micros(micros)).await;
                            }
                        }
                    };
                    let down = tokio::io::copy(&mut sr, &mut cw);
                    tokio::select! { () = up => {}, _ = down => {} }
                });
            }
        });
        Self { port, cuts_left, pace }
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
    let data = rand_bytes(96 << 20);
    let (cli, user, file) = laptop_with_file(&app, &app.address, dir.path(), &data).await;
    let (_, held) = kill_mid_upload(&app, &cli, &file, user).await;
    assert!(held < data.len() as i64, "killed mid-upload, the server holds {held} bytes");
    let out = cli.run_with(&RESUMABLE, &["put", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("resuming the upload of big.bin: the server holds"), "{stderr}");
    assert_round_trip(&cli, dir.path(), &data);
}

/// A CLI registered with a new account at `server`, and `data` in `dir/big.bin`.
async fn laptop_with_file(
    app: &TestApp,
    server: &str,
    dir: &Path,
    data: &[u8],
) -> (Cli, Uuid, std::path::PathBuf) {
    let cli = Cli::new(server, dir, "laptop");
    let username = format!("u{}", rand::random::<u32>());
    cli.ok(PASSWORD, &["register", &username]);
    let user = app.stored_user(&username).await.id;
    let file = dir.join("big.bin");
    std::fs::write(&file, data).unwrap();
    (cli, user, file)
}

/// Runs `put` of `file` and kills it once its PATCH is under way and has sent something
/// (the client logs each 1 MiB batch before sending it: two logged means the first went out),
/// then waits for the server to store what arrived. Returns the upload and what it holds.
async fn kill_mid_upload(app: &TestApp, cli: &Cli, file: &Path, user: Uuid) -> (Uuid, i64) {
    let mut child = cli.command(&RESUMABLE, &["put", file.to_str().unwrap()]).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let id = loop {
        assert!(std::time::Instant::now() < deadline, "the upload never started");
        let session = std::fs::read_to_string(cli.config.join("session.json")).unwrap_or_default();
        let session = serde_json::from_str::<serde_json::Value>(&session).unwrap_or_default();
        let saved = &session["uploads"]["big.bin"];
        let id =
            saved["path"].as_str().and_then(|p| p.rsplit('/').next().and_then(|id| Uuid::parse_str(id).ok()));
        let logged =
            saved["journal"].as_str().and_then(|log| std::fs::metadata(log).ok()).map_or(0, |m| m.len());
        if let Some(id) = id
            && logged >= 2 * 16 * 17
        {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    child.kill().unwrap();
    let _ = child.wait();
    // The server keeps what arrived before the connection died, once its PATCH has stored it.
    let upload = loop {
        let upload = app.state.vaults.upload(user, id).await.expect("the upload is still there");
        let busy = upload.lease_until.is_some_and(|until| until > blindvault::domain::Timestamp::now());
        if !busy || std::time::Instant::now() > deadline {
            break upload;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(upload.upload_offset > 0, "killed mid-upload, the server holds {} bytes", upload.upload_offset);
    (id, upload.upload_offset)
}

async fn a_file_replaced_keeping_size_and_mtime_is_uploaded_afresh(d: Deployment) {
    let app = spawn_app(&d).await;
    // About 4 MB/s, so that the kill lands mid-upload whatever the machine's speed.
    let proxy =
        CuttingProxy::paced(app.address.trim_start_matches("http://").to_owned(), usize::MAX, 0, 16_000)
            .await;
    let dir = tempfile::tempdir().unwrap();
    let first = rand_bytes(24 << 20);
    let server = format!("http://127.0.0.1:{}", proxy.port);
    let (cli, user, file) = laptop_with_file(&app, &server, dir.path(), &first).await;
    let (abandoned, _) = kill_mid_upload(&app, &cli, &file, user).await;
    proxy.pace.store(0, Ordering::Relaxed);

    // `cp -p`: other content, the same size and modification time.
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let second = rand_bytes(first.len());
    std::fs::write(&file, &second).unwrap();
    std::fs::File::options().write(true).open(&file).unwrap().set_modified(mtime).unwrap();
    let out = cli.run_with(&RESUMABLE, &["put", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("is not what this upload began with"), "{stderr}");
    assert!(stderr.contains("starting a new one (fresh salt and IV)"), "{stderr}");
    assert!(
        app.state.vaults.upload(user, abandoned).await.is_err(),
        "the abandoned upload was ended on the server"
    );
    assert_round_trip(&cli, dir.path(), &second);
    let logs: Vec<_> = std::fs::read_dir(cli.config.join("uploads")).unwrap().collect();
    assert!(logs.is_empty(), "no upload log is left behind: {logs:?}");
}
