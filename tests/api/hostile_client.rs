//! The real client against a hostile server (the real server behind [`HostileProxy`]): every
//! lie ends in a clear client error, and nothing weakened is sent or stored.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blindvault::client::crypto::{CHUNK, TAG};
use blindvault::client::{Client, ClientError, Precondition};

use crate::helpers::{Deployment, TestApp, on_both_deployments, spawn_app, spawn_app_with};
use crate::hostile::{Answer, HostileProxy};
use crate::process::Cli;

on_both_deployments!(
    kdf_downgrades_are_refused_before_anything_is_derived,
    an_older_revision_or_other_content_under_a_seen_one_is_refused,
    vault_ids_reach_the_server_as_one_segment,
    another_vaults_ciphertext_truncation_and_reordering_are_refused,
);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const PRELOGIN: &str = "/api/v1/auth/prelogin";

async fn kdf_downgrades_are_refused_before_anything_is_derived(d: Deployment) {
    let app = spawn_app(&d).await;
    let proxy = HostileProxy::start(&app.address).await;
    let dir = tempfile::tempdir().unwrap();
    let laptop = Cli::new(&proxy.address, dir.path(), "laptop");
    let pw = "kdf pinning password";
    Client::new(&app.address).unwrap().register("victim", pw, 650_000).await.unwrap();
    laptop.ok(pw, &["login", "victim"]);
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "secret notes").unwrap();
    laptop.ok(pw, &["put", notes.to_str().unwrap()]);
    laptop.ok(pw, &["logout"]);

    let pinned = Client::new(&app.address).unwrap().prelogin("victim").await.unwrap();
    let swapped = STANDARD.encode([9u8; 32]);
    let cases: [(&str, &str, serde_json::Value); 5] = [
        ("iterations 1", "iterations", 1.into()),
        ("another kdf", "kdf", "argon2id".into()),
        ("8-byte salt", "salt", STANDARD.encode([7u8; 8]).into()),
        ("swapped salt", "salt", swapped.into()),
        ("below the pinned 650,000", "iterations", 600_000.into()),
    ];
    let session = laptop.config.join("session.json");
    for (case, field, value) in cases {
        proxy.rewrite(move |sent, answer| {
            if sent.path == PRELOGIN {
                let mut kdf = answer.json();
                kdf[field] = value.clone();
                answer.set_json(&kdf);
            }
        });
        proxy.clear();
        let out = laptop.run(pw, &["login", "victim"]);
        assert_eq!(out.status.code(), Some(1), "{case}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("weaken the key derivation"), "{case}: {stderr}");
        assert_eq!(proxy.sent_to(PRELOGIN).len(), 1, "{case}");
        assert_eq!(proxy.sent().len(), 1, "{case}: nothing but prelogin was sent");
        assert!(!proxy.sent()[0].headers.contains_key("authorization"), "{case}");
        assert!(!session.exists(), "{case}: no session was saved");
    }

    // The pin survived logout and all those refusals: the honest server still logs in.
    proxy.honest();
    laptop.ok(pw, &["login", "victim"]);
    let known = text(&std::fs::read(laptop.config.join("known.json")).unwrap());
    assert!(known.contains("650000") && known.contains(&STANDARD.encode(&pinned.salt)), "{known}");

    // A logged-in command refuses a downgrade too, before it encrypts or sends anything.
    proxy.rewrite(|sent, answer| {
        if sent.path == PRELOGIN {
            let mut kdf = answer.json();
            kdf["iterations"] = 1.into();
            answer.set_json(&kdf);
        }
    });
    proxy.clear();
    std::fs::write(&notes, "new notes").unwrap();
    let out = laptop.run(pw, &["put", notes.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("weaken the key derivation"), "{}", text(&out.stderr));
    assert!(proxy.sent_to("/api/v1/vault").is_empty(), "no vault request was sent");
    assert!(proxy.sent_to("/api/v1/uploads").is_empty(), "no upload was begun");
    proxy.honest();
    assert_eq!(laptop.ok(pw, &["get", "notes.txt"]), b"secret notes", "nothing was stored");
}

/// A rewrite of a ciphertext stream, given the sealed chunk size.
type Cut = fn(&Bytes, usize) -> Vec<u8>;

/// An answer captured from the honest server, to replay later.
#[derive(Clone)]
struct Recorded {
    headers: HeaderMap,
    body: Bytes,
}

/// A server behind a proxy, and a CLI going through it, registered as `username` with `pw`.
struct Journey {
    _app: TestApp,
    proxy: HostileProxy,
    dir: tempfile::TempDir,
    laptop: Cli,
}

async fn journey(d: &Deployment, username: &str, pw: &str) -> Journey {
    let app = spawn_app(d).await;
    let proxy = HostileProxy::start(&app.address).await;
    let dir = tempfile::tempdir().unwrap();
    let laptop = Cli::new(&proxy.address, dir.path(), "laptop");
    laptop.ok(pw, &["register", username]);
    Journey { _app: app, proxy, dir, laptop }
}

async fn an_older_revision_or_other_content_under_a_seen_one_is_refused(d: Deployment) {
    let pw = "rollback password";
    let Journey { proxy, dir, laptop, .. } = journey(&d, "rolly", pw).await;
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "revision one").unwrap();
    laptop.ok(pw, &["put", notes.to_str().unwrap()]);

    let first = record(&proxy, &["/api/v1/vault/notes.txt"]);
    assert_eq!(laptop.ok(pw, &["get", "notes.txt"]), b"revision one");
    proxy.honest();
    std::fs::write(&notes, "revision two").unwrap();
    laptop.ok(pw, &["put", notes.to_str().unwrap()]);
    assert_eq!(laptop.ok(pw, &["get", "notes.txt"]), b"revision two");
    let old = first.lock().unwrap()[0].clone();

    let out_file = dir.path().join("out.txt");
    let cases: [(&str, u64, Option<&str>, &str); 3] = [
        ("rollback", 1, None, "older than revision 2"),
        ("other content under revision 2", 2, None, "revision 2 was served with other content"),
        ("revision 1's content as revision 3", 3, Some("\"forged\""), "content of an older revision"),
    ];
    for (case, revision, etag, expected) in cases {
        let old = old.clone();
        proxy.rewrite(move |sent, answer| {
            if sent.path == "/api/v1/vault/notes.txt" {
                replay(answer, &old, revision, etag);
            }
        });
        let out = laptop.run(pw, &["get", "notes.txt", "-o", out_file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{case}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(expected) && stderr.contains("rolling it back or swapping"),
            "{case}: {stderr}"
        );
        assert!(!out_file.exists(), "{case}: nothing was written");
    }
    proxy.honest();
    assert_eq!(laptop.ok(pw, &["get", "notes.txt"]), b"revision two");

    // The way out when the vault really was deleted and created again elsewhere.
    let stale = old.clone();
    proxy.rewrite(move |sent, answer| {
        if sent.path == "/api/v1/vault/notes.txt" {
            replay(answer, &stale, 1, None);
        }
    });
    let out = laptop.run(pw, &["get", "notes.txt"]);
    assert!(text(&out.stderr).contains("--accept-revision"), "{}", text(&out.stderr));
    assert_eq!(laptop.ok(pw, &["get", "notes.txt", "--accept-revision"]), b"revision one");
}

/// From now on, records the answers to requests for `paths` (in that order, once each).
fn record(proxy: &HostileProxy, paths: &'static [&'static str]) -> Arc<Mutex<Vec<Recorded>>> {
    let recorded: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let into = Arc::clone(&recorded);
    proxy.rewrite(move |sent, answer| {
        let mut into = into.lock().unwrap();
        if paths.get(into.len()).is_some_and(|p| *p == sent.path) {
            into.push(Recorded { headers: answer.headers.clone(), body: answer.body.clone() });
        }
    });
    recorded
}

/// Puts a recorded answer in place of `answer`, claiming `revision` (and `etag`, if given).
fn replay(answer: &mut Answer, old: &Recorded, revision: u64, etag: Option<&str>) {
    answer.headers = old.headers.clone();
    answer.body = old.body.clone();
    let mut body = answer.json();
    body["revision"] = revision.into();
    if let Some(etag) = etag {
        body["etag"] = etag.into();
        answer.headers.insert("etag", etag.parse().unwrap());
    }
    answer.set_json(&body);
}

async fn vault_ids_reach_the_server_as_one_segment(d: Deployment) {
    let pw = "vault id password";
    let Journey { proxy, dir, laptop, .. } = journey(&d, "ider", pw).await;
    let plan = dir.path().join("plan#v2.txt");
    std::fs::write(&plan, "the plan").unwrap();
    for (args, id, encoded) in [
        (vec!["put", plan.to_str().unwrap(), "--vault", "x%41"], "x%41", "/api/v1/vault/x%2541"),
        (vec!["put", plan.to_str().unwrap()], "plan#v2.txt", "/api/v1/vault/plan%23v2.txt"),
    ] {
        proxy.clear();
        let out = laptop.run(pw, &args);
        assert_eq!(out.status.code(), Some(1), "{id}: the server does not take this id");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("`vault_id` must be 1 to 128 characters"), "{id}: {stderr}");
        let paths: Vec<String> = proxy.sent_to("/api/v1/vault").into_iter().map(|s| s.path).collect();
        assert!(
            !paths.is_empty() && paths.iter().all(|p| p == encoded || p == &format!("{encoded}/content")),
            "{id}: {paths:?}"
        );
        let out = laptop.run(pw, &["get", id]);
        assert_eq!(out.status.code(), Some(1), "{id}");
    }
    let listing = text(&laptop.ok(pw, &["ls"]));
    assert!(listing.trim().is_empty(), "no vault xA or plan was made: {listing}");
    let out = laptop.run(pw, &["get", "xA"]);
    assert!(text(&out.stderr).contains("there is no vault xA"), "{}", text(&out.stderr));
}

async fn another_vaults_ciphertext_truncation_and_reordering_are_refused(d: Deployment) {
    // Every byte through the proxy: no direct downloads (tests/api/direct.rs swaps those).
    let app = spawn_app_with(&d, &["--max-json-vault-bytes", "1000", "--direct-url-ttl", "0s"]).await;
    let proxy = HostileProxy::start(&app.address).await;
    let client = Client::new(&proxy.address).unwrap();
    client.register("swapped", "swap password", 600_000).await.unwrap();
    let (keys, _) = client.login("swapped", "swap password", &[]).await.unwrap();
    let big = |seed: u32| -> Vec<u8> { (0..200_000u32).map(|i| ((i * seed) % 251) as u8).collect() };
    for (id, seed) in [("a", 3), ("b", 5)] {
        client.put_stream(&keys, id, std::io::Cursor::new(big(seed)), &Precondition::Absent).await.unwrap();
    }
    client.put(&keys, "small-a", b"tiny a", &Precondition::Absent).await.unwrap();
    client.put(&keys, "small-b", b"tiny b", &Precondition::Absent).await.unwrap();
    let recorded =
        record(&proxy, &["/api/v1/vault/b", "/api/v1/vault/b/content?direct=true", "/api/v1/vault/small-b"]);
    client.get(&keys, "b").await.unwrap();
    client.get(&keys, "small-b").await.unwrap();
    let (b_json, b_content, small_b) = {
        let recorded = recorded.lock().unwrap();
        let json = |i: usize| serde_json::from_slice::<serde_json::Value>(&recorded[i].body).unwrap();
        assert_eq!(recorded.len(), 3);
        (json(0), recorded[1].clone(), json(2))
    };

    // Vault b (ciphertext, salt and iv) served consistently as vault a: the id is bound as AAD.
    proxy.rewrite(move |sent, answer| {
        if sent.path == "/api/v1/vault/a/content?direct=true" {
            for name in ["x-vault-salt", "x-vault-iv"] {
                answer.headers.insert(name, b_content.headers[name].clone());
            }
            answer.body = b_content.body.clone();
        }
        let other = match sent.path.as_str() {
            "/api/v1/vault/a" => &b_json,
            "/api/v1/vault/small-a" => &small_b,
            _ => return,
        };
        let mut body = other.clone();
        body["vault_id"] = answer.json()["vault_id"].clone();
        body["etag"] = answer.json()["etag"].clone();
        answer.set_json(&body);
    });
    for id in ["a", "small-a"] {
        let err = client.get(&keys, id).await.unwrap_err();
        assert!(err.to_string().contains("does not belong to this vault"), "{id}: {err}");
    }

    // Truncated at a chunk boundary, and two chunks swapped.
    let step = CHUNK + TAG;
    let cuts: [(&str, Cut); 2] = [
        ("truncated", |b, step| b[..2 * step].to_vec()),
        ("reordered", |b, step| [&b[step..2 * step], &b[..step], &b[2 * step..]].concat()),
    ];
    for (case, cut) in cuts {
        proxy.rewrite(move |sent, answer| {
            if sent.path == "/api/v1/vault/b/content?direct=true" {
                answer.body = Bytes::from(cut(&answer.body, step));
            }
        });
        let mut out = Vec::new();
        let err = client.get_stream(&keys, "b", &mut out, |_, _| {}).await.unwrap_err();
        assert!(
            matches!(err, ClientError::Decrypt(_))
                && err.to_string().contains("tampered with, truncated or reordered"),
            "{case}: {err}"
        );
    }
    proxy.honest();
    assert_eq!(client.get(&keys, "b").await.unwrap().0, big(5));
}

#[test]
fn plain_http_off_loopback_is_refused_without_both_opt_ins() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new("http://0.0.0.0:9", dir.path(), "laptop");
    let opt_env = ("BLINDVAULT_ALLOW_INSECURE_HTTP", "1");
    let pw = ("BLINDVAULT_PASSWORD", "pw");
    for (env, args) in [
        (vec![pw], vec!["login", "someone"]),
        (vec![pw], vec!["login", "someone", "--allow-insecure-http"]),
        (vec![pw, opt_env], vec!["login", "someone"]),
    ] {
        let out = cli.run_with(&env, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("refusing plain http:// to 0.0.0.0"), "{args:?}: {stderr}");
    }
    let out = cli.run_with(&[pw, opt_env], &["login", "someone", "--allow-insecure-http"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot reach the server"), "both opt-ins: it tries, {stderr}");
}
