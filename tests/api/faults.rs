//! The object store failing in the middle of an upload, through a TCP proxy in front of the
//! S3 server that cuts every connection once a byte budget is spent.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{Deployment, assert_problem, b64, spawn_app_with};
use crate::vaults_json::read_user;

/// Forwards to `upstream` while `budget` (bytes sent upstream) lasts; then drops everything.
struct FaultyProxy {
    port: u16,
    budget: Arc<AtomicI64>,
}

impl FaultyProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let budget = Arc::new(AtomicI64::new(i64::MAX));
        let shared = Arc::clone(&budget);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let budget = Arc::clone(&shared);
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if budget.load(Ordering::SeqCst) <= 0 {
                        return;
                    }
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    pipe(client, server, budget).await;
                });
            }
        });
        Self { port, budget }
    }

    fn allow(&self, bytes: i64) {
        self.budget.store(bytes, Ordering::SeqCst);
    }
}

async fn pipe(client: TcpStream, server: TcpStream, budget: Arc<AtomicI64>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if budget.fetch_sub(n as i64, Ordering::SeqCst) <= n as i64
                || sw.write_all(&buf[..n]).await.is_err()
            {
                return;
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if budget.load(Ordering::SeqCst) <= 0 || cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! { () = up => {}, () = down => {} }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_store_failing_mid_upload_keeps_the_previous_revision() {
    let Some(d) = Deployment::production() else { return };
    let Deployment::Production { s3_endpoint, .. } = &d else { unreachable!() };
    let proxy = FaultyProxy::start(s3_endpoint.trim_start_matches("http://").to_owned()).await;
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let app = spawn_app_with(&d, &["--s3-endpoint", &endpoint]).await;
    let (_, token) = app.user().await;
    let url = format!("{}/api/v1/vault/v/content", app.address);
    let put = |precondition: (&'static str, String), body: Vec<u8>| {
        app.client
            .put(&url)
            .bearer_auth(&token)
            .header("content-type", "application/octet-stream")
            .header("x-vault-iv", b64(&[1u8; 12]))
            .header("x-vault-salt", b64(&[1u8; 12]))
            .header(precondition.0, precondition.1)
            .body(body)
            .send()
    };
    let resp = put(("if-none-match", "*".into()), b"original".to_vec()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();

    // 24 MiB: the first parts reach S3, then the store goes away for good.
    proxy.allow(12 * 1024 * 1024);
    let resp = put(("if-match", etag.clone()), vec![7u8; 24 * 1024 * 1024]).await.unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    let problem = assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(!problem.to_string().contains("127.0.0.1"), "{problem}");

    // The store comes back: the previous revision is intact, and a sweep leaves no orphan.
    proxy.allow(i64::MAX);
    let resp = app.call(Method::GET, "/api/v1/vault/v/content", Some(&token), None).await;
    assert_eq!(resp.headers()["etag"], etag.as_str());
    assert_eq!(resp.bytes().await.unwrap(), "original");
    let later = blindvault::domain::Timestamp::now().plus(Duration::from_secs(2 * 86400));
    app.state.sweeper.sweep(later).await.unwrap();
    let user = read_user(&app, &token).await;
    assert_eq!(app.objects_of(&user).await.len(), 1);
}
