//! The change feed over HTTP on both deployments: every committed revision of 64 concurrent
//! writers appears exactly once, in commit order per vault; a waiting request wakes at the
//! next change (on another replica too, within a second); a compacted cursor gets 410; the
//! event stream resumes after `Last-Event-ID` and sends heartbeats while idle.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blindvault::domain::Timestamp;
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Deployment, TestApp, assert_problem, on_both_deployments, spawn_app, spawn_app_with};
use crate::revisions::write_revisions;
use crate::vaults_json::{put_json, replace_body};

on_both_deployments!(
    every_commit_of_64_writers_is_logged_once_in_order,
    a_waiting_request_wakes_at_the_next_change,
    a_compacted_cursor_gets_410,
    the_server_caps_every_wait,
    the_stream_resumes_after_the_last_event_and_beats_while_idle,
);

async fn changes(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.call(Method::GET, &format!("/api/v1/changes{query}"), Some(token), None).await
}

async fn changes_ok(app: &TestApp, token: &str, query: &str) -> Value {
    let resp = changes(app, token, query).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

/// Every change after cursor `since`, following `more`.
async fn all_changes(app: &TestApp, token: &str, mut since: String) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let page = changes_ok(app, token, &format!("?since={since}&limit=50")).await;
        all.extend(page["changes"].as_array().unwrap().iter().cloned());
        since = page["cursor"].as_str().unwrap().to_owned();
        if page["more"] != true {
            return all;
        }
    }
}

const WRITERS: usize = 64;
const VAULTS: usize = 16;
const WRITES_EACH: usize = 2;

pub(crate) async fn every_commit_of_64_writers_is_logged_once_in_order(d: Deployment) {
    let app = Arc::new(spawn_app(&d).await);
    let (_, token) = app.user().await;
    let start = changes_ok(&app, &token, "").await["cursor"].as_str().unwrap().to_owned();
    assert_eq!(start, "0");
    for v in 0..VAULTS {
        write_revisions(&app, &token, &format!("v{v}"), &[b"0"]).await;
    }
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (app, token) = (Arc::clone(&app), token.clone());
        tasks.push(tokio::spawn(async move {
            let id = format!("v{}", w % VAULTS);
            let mut acked = Vec::new();
            while acked.len() < WRITES_EACH {
                let read = app.call(Method::GET, &format!("/api/v1/vault/{id}"), Some(&token), None).await;
                let etag = read.headers()["etag"].to_str().unwrap().to_owned();
                let resp =
                    put_json(&app, &token, &id, ("if-match", &etag), replace_body(format!("{w}").as_bytes()))
                        .await;
                match resp.status() {
                    StatusCode::OK => {
                        let body: Value = resp.json().await.unwrap();
                        acked.push((
                            id.clone(),
                            body["revision"].as_u64().unwrap(),
                            body["etag"].as_str().unwrap().to_owned(),
                        ));
                    }
                    StatusCode::PRECONDITION_FAILED => {}
                    other => panic!("unexpected {other}"),
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(task.await.unwrap());
    }
    let log = all_changes(&app, &token, start).await;
    assert_eq!(log.len(), VAULTS + WRITERS * WRITES_EACH, "one entry per create and per acknowledged write");
    let cursors: Vec<u64> = log.iter().map(|c| c["cursor"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(cursors, (1..=log.len() as u64).collect::<Vec<_>>(), "numbered 1, 2, 3, ... without gaps");
    let logged: HashSet<(String, u64, String)> = log
        .iter()
        .filter(|c| c["kind"] == "replace")
        .map(|c| {
            (
                c["vault_id"].as_str().unwrap().to_owned(),
                c["revision"].as_u64().unwrap(),
                c["etag"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(logged, acked.into_iter().collect::<HashSet<_>>(), "exactly the acknowledged writes");
    let mut last: HashMap<String, u64> = HashMap::new();
    for change in &log {
        let id = change["vault_id"].as_str().unwrap().to_owned();
        let revision = change["revision"].as_u64().unwrap();
        let previous = last.insert(id.clone(), revision).unwrap_or(0);
        assert_eq!(revision, previous + 1, "{id}: revisions in commit order");
    }
}

/// `GET /changes?since=..&wait=30` on `reader` while `writer` writes after 300 ms: the
/// answer and how long after the write's acknowledgement it came.
async fn wake_across(reader: &TestApp, writer: &TestApp, token: &str, etag: &str) -> (Value, Duration) {
    let since = changes_ok(reader, token, "").await["cursor"].as_str().unwrap().to_owned();
    let query = format!("?since={since}&wait=30");
    let waiting = changes(reader, token, &query);
    let writing = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let resp = put_json(writer, token, "notes", ("if-match", etag), replace_body(b"next")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        Instant::now()
    };
    let (resp, written_at) = tokio::join!(waiting, writing);
    let woke = written_at.elapsed();
    assert_eq!(resp.status(), StatusCode::OK);
    (resp.json().await.unwrap(), woke)
}

pub(crate) async fn a_waiting_request_wakes_at_the_next_change(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let etags = write_revisions(&app, &token, "notes", &[b"one"]).await;
    // A request waiting for a change shows in the metrics while it waits, and not after.
    let waiters = app.state.changes.waiters();
    let head = changes_ok(&app, &token, "").await["cursor"].as_str().unwrap().to_owned();
    let query = format!("?since={head}&wait=2");
    let (idle, ()) = tokio::join!(changes(&app, &token, &query), async {
        let started = Instant::now();
        while waiters.waiting() == 0 {
            assert!(started.elapsed() < Duration::from_secs(10), "the waiting request is counted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let metrics = app.call(Method::GET, "/metrics", None, None).await.text().await.unwrap();
        assert!(metrics.contains("blindvault_feed_waiting_requests 1"), "{metrics}");
    });
    assert_eq!(idle.status(), StatusCode::OK);
    assert_eq!(waiters.waiting(), 0, "no longer once answered");
    let (page, woke) = wake_across(&app, &app, &token, &etags[0]).await;
    assert_eq!(page["changes"][0]["kind"], "replace");
    assert!(woke < Duration::from_secs(1), "woken by the change, not by the end of the wait: {woke:?}");
    let started = Instant::now();
    let idle = changes_ok(&app, &token, &format!("?since={}&wait=1", page["cursor"].as_str().unwrap())).await;
    assert_eq!((idle["changes"].as_array().unwrap().len(), idle["more"].as_bool()), (0, Some(false)));
    assert!(started.elapsed() >= Duration::from_millis(900), "waited for the second asked");
    for bad in ["?since=-1", "?since=x", "?since=0&wait=61", "?since=0&limit=0", "?other=1"] {
        assert_problem(changes(&app, &token, bad).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_replica_wakes_a_waiter_on_another_within_a_second() {
    let Some(d) = Deployment::production() else { return };
    let a = spawn_app(&d).await;
    let b = a.sibling(&[]).await;
    let (_, token) = a.user().await;
    let etags = write_revisions(&a, &token, "notes", &[b"one"]).await;
    assert!(b.state.changes.until_following(Duration::from_secs(10)).await);
    let (page, woke) = wake_across(&b, &a, &token, &etags[0]).await;
    assert_eq!(page["changes"].as_array().unwrap().len(), 1);
    assert!(woke < Duration::from_secs(1), "the other replica's waiter answered {woke:?} after the write");
}

pub(crate) async fn the_server_caps_every_wait(d: Deployment) {
    let app = spawn_app_with(&d, &["--feed-max-wait", "1s"]).await;
    let (_, token) = app.user().await;
    let started = Instant::now();
    let page = changes_ok(&app, &token, "?since=0&wait=60").await;
    assert_eq!((page["changes"].as_array().unwrap().len(), page["cursor"].as_str()), (0, Some("0")));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(10), "{waited:?}");
}

pub(crate) async fn a_compacted_cursor_gets_410(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    write_revisions(&app, &token, "notes", &[b"one", b"two", b"three"]).await;
    app.state.sweeper.sweep(Timestamp::now().plus(Duration::from_secs(31 * 86400))).await.unwrap();
    assert_problem(changes(&app, &token, "?since=0").await, StatusCode::GONE, "cursor_expired").await;
    let stream = app.call(Method::GET, "/api/v1/changes/stream?since=1", Some(&token), None).await;
    assert_problem(stream, StatusCode::GONE, "cursor_expired").await;
    let head = changes_ok(&app, &token, "").await;
    assert_eq!(head["cursor"], "3", "the head survives compaction");
    let from_head = changes_ok(&app, &token, "?since=3").await;
    assert_eq!(from_head["changes"].as_array().unwrap().len(), 0);
    assert_problem(changes(&app, &token, "?since=4").await, StatusCode::GONE, "cursor_expired").await;
}

/// Reads Server-Sent Events from a response.
struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl Events {
    fn new(resp: reqwest::Response) -> Self {
        Self { body: resp.bytes_stream().boxed(), buffer: String::new() }
    }

    /// The next event or comment block, as its lines; `None` at the end of the stream.
    async fn next(&mut self) -> Option<Vec<String>> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(block.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.body.next())
                .await
                .expect("an event in time");
            self.buffer.push_str(std::str::from_utf8(&chunk?.ok()?).unwrap());
        }
    }

    /// The next `change` event's id and data, skipping heartbeats; counts those skipped.
    async fn change(&mut self, heartbeats: &mut usize) -> (String, Value) {
        loop {
            let lines = self.next().await.expect("the stream goes on");
            let field = |name: &str| {
                lines.iter().find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().to_owned()))
            };
            if lines.iter().all(|l| l.starts_with(':')) {
                *heartbeats += 1;
                continue;
            }
            assert_eq!(field("event:").as_deref(), Some("change"), "{lines:?}");
            return (field("id:").unwrap(), serde_json::from_str(&field("data:").unwrap()).unwrap());
        }
    }
}

async fn open_stream(app: &TestApp, token: &str, last_event: Option<&str>) -> Events {
    let mut req = app.client.get(format!("{}/api/v1/changes/stream?since=0", app.address)).bearer_auth(token);
    if let Some(id) = last_event {
        req = req.header("last-event-id", id);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["x-accel-buffering"], "no");
    Events::new(resp)
}

pub(crate) async fn the_stream_resumes_after_the_last_event_and_beats_while_idle(d: Deployment) {
    let app = spawn_app_with(&d, &["--feed-heartbeat", "1s"]).await;
    let (_, token) = app.user().await;
    let mut heartbeats = 0;
    let mut events = open_stream(&app, &token, None).await;
    let etags = write_revisions(&app, &token, "notes", &[b"one", b"two"]).await;
    let (id, first) = events.change(&mut heartbeats).await;
    assert_eq!(
        (id.trim(), first["kind"].as_str(), first["etag"].as_str()),
        ("1", Some("create"), Some(etags[0].as_str()))
    );
    let (id, second) = events.change(&mut heartbeats).await;
    assert_eq!((id.trim(), second["revision"].as_u64()), ("2", Some(2)));
    // Idle: heartbeats keep the connection alive.
    let idle_since = Instant::now();
    while heartbeats < 2 {
        let lines = events.next().await.expect("the stream goes on");
        assert!(lines.iter().all(|l| l.starts_with(':')), "only heartbeats while idle: {lines:?}");
        heartbeats += 1;
    }
    assert!(idle_since.elapsed() < Duration::from_secs(10));
    drop(events);

    write_revisions(&app, &token, "other", &[b"three"]).await;
    let mut resumed = open_stream(&app, &token, Some("2")).await;
    let (id, third) = resumed.change(&mut heartbeats).await;
    assert_eq!(
        (id.trim(), third["vault_id"].as_str()),
        ("3", Some("other")),
        "Last-Event-ID wins over since=0"
    );

    let no_token = app.call(Method::GET, "/api/v1/changes/stream", None, None).await;
    assert_problem(no_token, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}
