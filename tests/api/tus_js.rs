//! The official tus client, tus-js-client in Node.js, unchanged, against the server: it
//! uploads 20 MiB, is stopped at 40%, resumes from its stored upload URL in a new `Upload`,
//! and the vault holds the file byte for byte (`tests/tus-js/upload.mjs` checks it and says
//! so in one JSON line). `scripts/test` installs it from the lockfile.

use crate::helpers::{Deployment, on_both_deployments, rand_bytes, spawn_app};

on_both_deployments!(tus_js_client_uploads_and_resumes);

async fn tus_js_client_uploads_and_resumes(d: Deployment) {
    let Ok(dir) = std::env::var("BLINDVAULT_TEST_TUS_JS") else {
        assert!(
            !std::env::var("BLINDVAULT_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1"),
            "BLINDVAULT_TEST_TUS_JS is not set; run ./scripts/test"
        );
        eprintln!("SKIPPED (tus-js-client): set BLINDVAULT_TEST_TUS_JS, or run ./scripts/test");
        return;
    };
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("file.bin");
    std::fs::write(&file, rand_bytes(20 << 20)).unwrap();
    let script = std::path::Path::new(&dir).join("upload.mjs");
    let mut node = std::process::Command::new("node");
    node.args([script.to_str().unwrap(), &app.address, &token, file.to_str().unwrap(), "jsvault"]);
    let out = tokio::task::spawn_blocking(move || node.output()).await.unwrap().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["match"], true, "{report}");
    assert!(report["resumed_from"].as_u64().unwrap() > 0, "it resumed: {report}");
    assert_eq!(report["size"], 20 << 20);
    let vault =
        app.client.get(format!("{}/api/v1/vault/jsvault", app.address)).bearer_auth(&token).send().await;
    assert_eq!(vault.unwrap().json::<serde_json::Value>().await.unwrap()["etag"], report["etag"], "{report}");
}
