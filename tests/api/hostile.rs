//! A hostile server for client tests: a reverse proxy in front of the real server that lets a
//! test rewrite any answer (status, headers, body) and records every request the client sent,
//! so a test can assert both that the client refused and that nothing weakened left it.
//!
//! Bodies are buffered whole in both directions: fine for the sizes client tests use.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use futures::StreamExt;
use tokio::net::TcpListener;

/// One request as the client sent it.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Its method.
    pub method: Method,
    /// Path and query, as on the request line.
    pub path: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its whole body.
    pub body: Bytes,
}

/// An answer on its way back to the client; a rewrite may change any part of it.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: StatusCode,
    /// Headers (`content-length` is set again from the body after the rewrite).
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON answer")
    }

    /// Replaces the body with `value`.
    pub fn set_json(&mut self, value: &serde_json::Value) {
        self.body = Bytes::from(serde_json::to_vec(value).unwrap());
    }
}

/// What a test does to answers: called with the request that was answered.
pub type Rewrite = Arc<dyn Fn(&Sent, &mut Answer) + Send + Sync>;

/// The proxy; it runs until the test ends.
pub struct HostileProxy {
    /// `http://127.0.0.1:PORT`, to give the client as its server.
    pub address: String,
    sent: Arc<Mutex<Vec<Sent>>>,
    rewrite: Arc<Mutex<Rewrite>>,
}

impl HostileProxy {
    /// Starts an honest proxy to `upstream` (`http://host:port`); see [`Self::rewrite`].
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let honest: Rewrite = Arc::new(|_, _| {});
        let rewrite = Arc::new(Mutex::new(honest));
        let (log, rules, upstream) = (Arc::clone(&sent), Arc::clone(&rewrite), upstream.to_owned());
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let (log, rules, upstream, http) =
                (Arc::clone(&log), Arc::clone(&rules), upstream.clone(), http.clone());
            // On its own task: a request whose client went away still reaches the server.
            let forwarded = tokio::spawn(async move { forward(req, &upstream, &http, &log, &rules).await });
            async move { forwarded.await.unwrap() }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Self { address, sent, rewrite }
    }

    /// From now on, every answer passes through `f` before the client sees it.
    pub fn rewrite(&self, f: impl Fn(&Sent, &mut Answer) + Send + Sync + 'static) {
        *self.rewrite.lock().unwrap() = Arc::new(f);
    }

    /// Answers pass unchanged again.
    pub fn honest(&self) {
        self.rewrite(|_, _| {});
    }

    /// Every request so far, oldest first.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// Requests so far whose path starts with `prefix`.
    pub fn sent_to(&self, prefix: &str) -> Vec<Sent> {
        self.sent().into_iter().filter(|s| s.path.starts_with(prefix)).collect()
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        self.sent.lock().unwrap().clear();
    }
}

async fn forward(
    req: Request<Body>,
    upstream: &str,
    http: &reqwest::Client,
    log: &Mutex<Vec<Sent>>,
    rules: &Mutex<Rewrite>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    // A body the client broke off is forwarded as far as it came, as a cut connection would.
    let mut received = Vec::new();
    let mut frames = body.into_data_stream();
    while let Some(Ok(frame)) = frames.next().await {
        received.extend_from_slice(&frame);
    }
    let body = Bytes::from(received);
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let sent = Sent { method: parts.method.clone(), path, headers: parts.headers.clone(), body };
    log.lock().unwrap().push(sent.clone());
    let mut headers = parts.headers;
    headers.remove("host");
    headers.remove("content-length");
    let upstream_resp = http
        .request(sent.method.clone(), format!("{upstream}{}", sent.path))
        .headers(headers)
        .body(sent.body.clone())
        .send()
        .await;
    let Ok(resp) = upstream_resp else {
        return Response::builder().status(StatusCode::BAD_GATEWAY).body(Body::empty()).unwrap();
    };
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.bytes().await.unwrap_or_default();
    let mut answer = Answer { status, headers, body };
    let rewrite = Arc::clone(&rules.lock().unwrap());
    rewrite(&sent, &mut answer);
    answer.headers.remove("transfer-encoding");
    if sent.method != Method::HEAD {
        answer.headers.insert("content-length", answer.body.len().into());
    }
    let mut out = Response::builder().status(answer.status);
    *out.headers_mut().unwrap() = answer.headers;
    out.body(Body::from(answer.body)).unwrap()
}

#[tokio::test]
async fn the_proxy_rewrites_answers_and_records_requests() {
    let app = crate::helpers::spawn_app(&crate::helpers::Deployment::Embedded).await;
    let proxy = HostileProxy::start(&app.address).await;
    let get = |path: &'static str| reqwest::get(format!("{}{path}", proxy.address));
    assert_eq!(get("/health").await.unwrap().status(), StatusCode::OK, "honest by default");
    proxy.rewrite(|sent, answer| {
        if sent.path == "/api/v1/limits" {
            let mut limits = answer.json();
            limits["min_kdf_iterations"] = 1.into();
            answer.set_json(&limits);
            answer.status = StatusCode::IM_A_TEAPOT;
        }
    });
    let resp = get("/api/v1/limits").await.unwrap();
    assert_eq!(resp.status(), StatusCode::IM_A_TEAPOT);
    let limits: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(limits["min_kdf_iterations"], 1, "the body was rewritten");
    assert_eq!(proxy.sent().len(), 2, "both requests were recorded");
    assert_eq!(proxy.sent_to("/api/v1/limits").len(), 1);
}
