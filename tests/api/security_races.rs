//! Races on the single-use things of account security, on both deployments: whatever the
//! number of concurrent requests, one TOTP code opens one session, one challenge is answered
//! once, one recovery code works once, one invite makes one account. Each is one atomic
//! decision in the database.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Creds, Deployment, on_both_deployments, spawn_app, spawn_app_with};
use crate::second_factors::{answer, challenge, code, enable_totp};

on_both_deployments!(single_use_things_are_used_once_under_races);

const RACERS: usize = 8;

async fn count_ok<F: std::future::Future<Output = StatusCode>>(tasks: Vec<F>) -> (usize, Vec<StatusCode>) {
    let statuses = futures::future::join_all(tasks).await;
    (statuses.iter().filter(|s| s.is_success()).count(), statuses)
}

async fn single_use_things_are_used_once_under_races(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let (secret, codes) = enable_totp(&app, &creds, &token).await;

    // One code, many challenges: one session.
    let mut challenges = Vec::new();
    for _ in 0..RACERS {
        challenges.push(challenge(&app, &creds).await);
    }
    let next = code(&secret, 30);
    let tasks =
        challenges.iter().map(|ch| async { answer(&app, ch, "totp", &next).await.status() }).collect();
    let (won, statuses) = count_ok(tasks).await;
    assert_eq!(won, 1, "one TOTP code opened {won} sessions: {statuses:?}");

    // One challenge, many right answers (different recovery codes): one session.
    let ch = challenge(&app, &creds).await;
    let tasks = codes[1..=RACERS]
        .iter()
        .map(|c| {
            let (app, ch) = (&app, ch.clone());
            async move { answer(app, &ch, "recovery_code", c).await.status() }
        })
        .collect();
    let (won, statuses) = count_ok(tasks).await;
    assert_eq!(won, 1, "one challenge answered {won} times: {statuses:?}");

    // One recovery code, many challenges: one session.
    let mut challenges = Vec::new();
    for _ in 0..RACERS {
        challenges.push(challenge(&app, &creds).await);
    }
    let tasks = challenges
        .iter()
        .map(|ch| async { answer(&app, ch, "recovery_code", &codes[0]).await.status() })
        .collect();
    let (won, statuses) = count_ok(tasks).await;
    assert_eq!(won, 1, "one recovery code opened {won} sessions: {statuses:?}");

    // One invite, many registrations: one account.
    let invite_app = spawn_app_with(&d, &["--registration", "invite"]).await;
    let invite = "bv-race-invite-code";
    let now = blindvault::domain::Timestamp::now();
    let expires = now.plus(std::time::Duration::from_secs(3600));
    invite_app.store.create_invite(&blindvault::service::invite_hash(invite), now, expires).await.unwrap();
    let people: Vec<Creds> = (0..RACERS).map(|_| Creds::random()).collect();
    let tasks = people
        .iter()
        .map(|p| {
            let mut body = p.register_body();
            body["invite"] = json!(invite);
            let app = &invite_app;
            async move { app.post("/api/v1/auth/register", body).await.status() }
        })
        .collect();
    let (won, statuses) = count_ok(tasks).await;
    assert_eq!(won, 1, "one invite made {won} accounts: {statuses:?}");
    assert!(statuses.iter().filter(|s| !s.is_success()).all(|s| *s == StatusCode::FORBIDDEN), "{statuses:?}");
    let mut stored = 0;
    for p in &people {
        stored += usize::from(invite_app.store.user_by_username(&p.username).await.unwrap().is_some());
    }
    assert_eq!(stored, 1);
}
