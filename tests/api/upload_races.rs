//! Ending a tus upload (`DELETE`) against the PATCH that completes it, or one that only stores
//! bytes: one of them wins in the database, the loser changes nothing, and nothing the winner
//! committed is ever discarded. Hundreds of trials on both deployments, with the `DELETE`
//! landing all over the PATCH, then a check of what is at rest.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Deployment, TestApp, on_both_deployments, rand_bytes, spawn_app};
use crate::races::{assert_stores_only_its_vaults, content, upload};
use crate::tus::{at_rest, create, metadata, patch, tus};
use crate::vaults_json::vault_body;

on_both_deployments!(
    a_cancelled_upload_never_takes_a_committed_vault_with_it,
    an_upload_ended_under_its_patch_leaves_nothing,
    ending_a_finished_upload_leaves_its_revision_to_the_vault,
);

/// Trials in all, a third of each kind (create, replace, a PATCH that does not complete).
const TRIALS: usize = 240;
/// Trials run this many at a time, each on its own vault.
const LANES: usize = 4;
/// How many different `DELETE` delays the trials step through, from 0 to 1.5 PATCHes.
const DELAYS: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The PATCH completes an upload that creates the vault.
    Create,
    /// The PATCH completes an upload that replaces the vault.
    Replace,
    /// The PATCH stores half of the upload (a tail: on S3 an object of its own).
    Partial,
}

async fn a_cancelled_upload_never_takes_a_committed_vault_with_it(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let span = patch_time(&app, &token).await * 3 / 2;
    let lanes = (0..LANES).map(|lane| lane_of_trials(&app, &token, lane, span));
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for lane in futures::future::join_all(lanes).await {
        for (outcome, n) in lane {
            *outcomes.entry(outcome).or_default() += n;
        }
    }
    eprintln!("{TRIALS} trials of DELETE against a PATCH (DELETE after 0..{span:?}): {outcomes:?}");
    assert_stores_only_its_vaults(&app, &creds.username).await;
}

/// The longest of three whole single-PATCH uploads here: what the `DELETE` delays spread over.
async fn patch_time(app: &TestApp, token: &str) -> Duration {
    let mut longest = Duration::ZERO;
    for i in 0..3 {
        let url = create(&app.address, token, 3000, &metadata(&format!("warm{i}"), &[])).await;
        let started = Instant::now();
        assert_eq!(patch(&url, token, 0, rand_bytes(3000), None).await.status(), StatusCode::NO_CONTENT);
        longest = longest.max(started.elapsed());
    }
    longest
}

/// Trials `lane`, `lane + LANES`, ...; returns how often each pair of answers came.
async fn lane_of_trials(app: &TestApp, token: &str, lane: usize, span: Duration) -> BTreeMap<String, usize> {
    let mut outcomes = BTreeMap::new();
    for trial in (lane..TRIALS).step_by(LANES) {
        let kind = [Kind::Create, Kind::Replace, Kind::Partial][trial % 3];
        let delay = span * (trial as u32 % (DELAYS + 1)) / DELAYS;
        let (patched, ended) = trial_once(app, token, &format!("v{trial}"), kind, delay).await;
        *outcomes
            .entry(format!("{kind:?}: PATCH {}, DELETE {}", patched.as_u16(), ended.as_u16()))
            .or_default() += 1;
    }
    outcomes
}

/// One `DELETE` against one PATCH of a fresh upload to vault `id`; checks the vault afterwards.
async fn trial_once(
    app: &TestApp,
    token: &str,
    id: &str,
    kind: Kind,
    delay: Duration,
) -> (StatusCode, StatusCode) {
    let before = rand_bytes(1000);
    let mut extra: Vec<(&str, Vec<u8>)> = Vec::new();
    if kind == Kind::Replace {
        let resp = app.call(Method::POST, "/api/v1/vault", Some(token), Some(vault_body(id, &before))).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let etag = resp.headers()["etag"].to_str().unwrap().as_bytes().to_vec();
        extra.push(("if_match", etag));
    }
    let extra: Vec<(&str, &[u8])> = extra.iter().map(|(k, v)| (*k, &v[..])).collect();
    let body = rand_bytes(3000);
    let length = if kind == Kind::Partial { 2 * body.len() } else { body.len() };
    let url = create(&app.address, token, length, &metadata(id, &extra)).await;
    let ending = async {
        tokio::time::sleep(delay).await;
        tus(Method::DELETE, &url, token).send().await.unwrap().status()
    };
    let (patched, ended) = tokio::join!(patch(&url, token, 0, body.clone(), None), ending);
    let patched = patched.status();
    let now = content(app, token, id).await;
    let case = format!("vault {id} ({kind:?}, DELETE after {delay:?}): PATCH {patched}, DELETE {ended}");
    assert!([StatusCode::NO_CONTENT, StatusCode::NOT_FOUND].contains(&ended), "{case}");
    assert!([StatusCode::NO_CONTENT, StatusCode::NOT_FOUND].contains(&patched), "{case}");
    let expected = match (kind, patched) {
        (Kind::Create | Kind::Replace, StatusCode::NO_CONTENT) => Ok(body),
        (Kind::Replace, _) => Ok(before),
        _ => Err(StatusCode::NOT_FOUND),
    };
    assert!(now == expected, "{case}: the vault answers {:?}", now.as_ref().map(Vec::len));
    (patched, ended)
}

/// PATCHes `first` at `offset`, then, after `pause`, `rest`, as one body; returns the status.
pub async fn slow_patch(
    url: &str,
    token: &str,
    offset: usize,
    first: Vec<u8>,
    pause: Duration,
    rest: Vec<u8>,
) -> StatusCode {
    use futures::StreamExt;
    let now = futures::stream::once(async move { Ok::<_, std::io::Error>(first) });
    let later = futures::stream::once(async move {
        tokio::time::sleep(pause).await;
        Ok(rest)
    });
    let resp = tus(Method::PATCH, url, token)
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", offset)
        .body(reqwest::Body::wrap_stream(now.chain(later)))
        .send()
        .await
        .unwrap();
    resp.status()
}

/// A `DELETE` that lands while a PATCH is still receiving its body releases the upload's
/// storage before that PATCH stores its tail (on S3 an object of its own); the PATCH, finding
/// its upload gone, releases that too and answers 404.
async fn an_upload_ended_under_its_patch_leaves_nothing(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    for i in 0..3 {
        let url = create(&app.address, &token, 10_000, &metadata(&format!("slow{i}"), &[])).await;
        let pause = Duration::from_millis(800);
        let patching = slow_patch(&url, &token, 0, rand_bytes(2000), pause, rand_bytes(2000));
        let ending = async {
            tokio::time::sleep(pause / 3).await;
            tus(Method::DELETE, &url, &token).send().await.unwrap().status()
        };
        let (patched, ended) = tokio::join!(patching, ending);
        assert_eq!((patched, ended), (StatusCode::NOT_FOUND, StatusCode::NO_CONTENT));
    }
    assert_stores_only_its_vaults(&app, &creds.username).await;
}

/// A finished upload is kept (so a client can ask how it ended); ending it afterwards must
/// not touch its object, even once a later replace has queued that object for deletion after
/// the grace period that lets downloads under way finish.
async fn ending_a_finished_upload_leaves_its_revision_to_the_vault(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let user = app.stored_user(&creds.username).await.id.to_string();
    let first = rand_bytes(2000);
    let url = create(&app.address, &token, first.len(), &metadata("doc", &[])).await;
    let resp = patch(&url, &token, 0, first.clone(), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let etag = resp.headers()["etag"].to_str().unwrap().trim_matches('"').to_owned();

    let second = upload(&app, &token, "doc", &rand_bytes(500), &[("if_match", etag.as_bytes())]).await;
    assert_ne!(second.trim_matches('"'), etag);
    assert_eq!(tus(Method::DELETE, &url, &token).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let stored = at_rest(&app, &user).await;
    assert!(
        stored.iter().any(|key| key.ends_with(&etag)),
        "the replaced revision stays for its grace period: {stored:?}"
    );
    let vault: Value =
        app.call(Method::GET, "/api/v1/vault/doc", Some(&token), None).await.json().await.unwrap();
    assert_eq!(vault["revision"], 2);
}
