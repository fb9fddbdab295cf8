//! Whether a username has an account must not show, also after the operator raised the cost
//! parameters: accounts keep the shape and Argon2 cost they were made with, so decoys for
//! unknown names are drawn from the accounts that exist (prelogin's salt length and iterations,
//! and how long a wrong login takes).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Creds, Deployment, TestApp, b64, on_both_deployments, rand_bytes, spawn_app_with};

on_both_deployments!(
    unknown_users_look_and_cost_like_real_ones_after_the_parameters_change,
    a_decoy_keeps_its_shape_as_accounts_come,
);

const GENEROUS_THROTTLE: [&str; 4] =
    ["--login-max-failures-per-address", "10000", "--login-max-failures-per-account", "10000"];

/// Registers `username` as an older client did: a 16-byte salt and 650,000 iterations.
async fn register_old_style(app: &TestApp, username: &str) -> Creds {
    let creds = Creds { username: username.to_owned(), auth_hash: rand_bytes(32), salt: rand_bytes(16) };
    let mut body = creds.register_body();
    body["iterations"] = json!(650_000);
    assert_eq!(app.post("/api/v1/auth/register", body).await.status(), StatusCode::CREATED);
    creds
}

/// The median times of `n` wrong logins as `real` and as `unknown`, taken in turns so that
/// both see the same load.
async fn wrong_login_times(app: &TestApp, real: &str, unknown: &str, n: usize) -> (Duration, Duration) {
    let (mut real_times, mut unknown_times) = (Vec::new(), Vec::new());
    for _ in 0..n {
        for (username, times) in [(real, &mut real_times), (unknown, &mut unknown_times)] {
            let body = json!({"username": username, "auth_hash": b64(&rand_bytes(32))});
            let started = Instant::now();
            let resp = app.post("/api/v1/auth/login", body).await;
            times.push(started.elapsed());
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        }
    }
    real_times.sort();
    unknown_times.sort();
    (real_times[n / 2], unknown_times[n / 2])
}

async fn unknown_users_look_and_cost_like_real_ones_after_the_parameters_change(d: Deployment) {
    // Costs large enough that hashing, not noise, dominates a login's time.
    let mut args = GENEROUS_THROTTLE.to_vec();
    args.extend(["--argon2-m-kib", "4096", "--argon2-t", "1"]);
    let app = spawn_app_with(&d, &args).await;
    let mut real = Vec::new();
    for i in 0..4 {
        real.push(register_old_style(&app, &format!("early{i}")).await);
    }
    // The operator raises the Argon2 cost (32x the work) and the minimum iterations.
    let raised =
        app.sibling(&["--argon2-m-kib", "65536", "--argon2-t", "2", "--min-kdf-iterations", "700000"]).await;

    // Prelogin: every real account shows a 16-byte salt and 650,000 iterations, so every
    // decoy does too (they are all there is to imitate).
    for name in (0..12).map(|i| format!("never-registered-{i}")) {
        let kdf: Value =
            raised.post("/api/v1/auth/prelogin", json!({"username": name})).await.json().await.unwrap();
        let salt = kdf["salt"].as_str().unwrap();
        assert_eq!(
            (kdf["iterations"].as_u64(), salt.len()),
            (Some(650_000), b64(&[0u8; 16]).len()),
            "{name}: {kdf}"
        );
    }

    // A wrong login costs what it costs for those accounts: Argon2 at the cost they were
    // hashed with, not the new one.
    let (real_time, unknown_time) =
        wrong_login_times(&raised, &real[0].username, "never-registered-0", 9).await;
    let ratio = unknown_time.as_secs_f64() / real_time.as_secs_f64();
    eprintln!(
        "wrong login after the cost was raised: real {real_time:?}, unknown {unknown_time:?} ({ratio:.2}x)"
    );
    // Before decoys imitated accounts, the ratio was the cost increase (32x here).
    assert!((0.33..3.0).contains(&ratio), "unknown {unknown_time:?} vs real {real_time:?}");

    // Accounts made under the new regime join the population decoys are drawn from.
    for i in 0..12 {
        let creds = Creds::random();
        let mut body = creds.register_body();
        body["username"] = json!(format!("late{i}"));
        body["iterations"] = json!(700_000);
        assert_eq!(raised.post("/api/v1/auth/register", body).await.status(), StatusCode::CREATED);
    }
    let fresh = raised.sibling(&[]).await; // a replica that has not read the accounts yet
    let mut shapes = std::collections::BTreeSet::new();
    for name in (0..40).map(|i| format!("nobody-{i}")) {
        let kdf: Value =
            fresh.post("/api/v1/auth/prelogin", json!({"username": name})).await.json().await.unwrap();
        shapes.insert((kdf["iterations"].as_u64().unwrap(), kdf["salt"].as_str().unwrap().len()));
    }
    let expected = [(650_000, b64(&[0u8; 16]).len()), (700_000, b64(&[0u8; 32]).len())];
    assert_eq!(shapes, expected.into_iter().collect(), "decoys take both shapes real accounts have");
}

/// What prelogin shows for `name`: iterations and the salt (base64).
async fn prelogin(app: &TestApp, name: &str) -> (u64, String) {
    let kdf: Value = app.post("/api/v1/auth/prelogin", json!({"username": name})).await.json().await.unwrap();
    (kdf["iterations"].as_u64().unwrap(), kdf["salt"].as_str().unwrap().to_owned())
}

/// A real account's shape changes only when its owner changes the password, so a decoy must
/// not change shape whenever someone registers: an attacker who asks twice would see which
/// names are decoys. A registration moves only the few decoys near a share's boundary.
async fn a_decoy_keeps_its_shape_as_accounts_come(d: Deployment) {
    let app = spawn_app_with(&d, &GENEROUS_THROTTLE).await;
    for i in 0..3 {
        register_old_style(&app, &format!("early{i}")).await;
    }
    for _ in 0..9 {
        app.register().await; // 32-byte salts, 600,000 iterations
    }
    let names: Vec<String> = (0..100).map(|i| format!("probe-{i}")).collect();
    let mut before = Vec::new();
    for name in &names {
        before.push(prelogin(&app, name).await);
    }
    let shapes: std::collections::BTreeSet<_> = before.iter().map(|(i, s)| (*i, s.len())).collect();
    assert_eq!(shapes.len(), 2, "decoys take both shapes: {shapes:?}");

    app.register().await;
    let fresh = app.sibling(&[]).await; // reads the accounts anew
    let mut moved = 0;
    for (name, seen) in names.iter().zip(&before) {
        let now = prelogin(&fresh, name).await;
        if now != *seen {
            moved += 1;
            assert_ne!(now.0, seen.0, "{name}: only a change of shape changes a decoy's salt");
        }
    }
    // The 16-byte share went from 3/12 to 3/13: about 2 names in 100 cross the boundary
    // (drawing by `hash % accounts` moved about 35).
    eprintln!("one registration moved {moved} of 100 decoys");
    assert!(moved <= 10, "{moved} of 100 decoys changed with one registration");
}
