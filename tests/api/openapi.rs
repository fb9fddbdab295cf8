//! The OpenAPI description and the contract agree: every route of `docs/API.md` is described
//! and nothing else is, every described operation is served, and every route of the shared
//! v1 baseline (`../shared/API.md`, where it is beside the repository) is among them.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Deployment, spawn_app};

/// `(METHOD, /path)` of every route a contract document names as `` `METHOD /path` ``.
fn routes_in(text: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for piece in text.split('`').skip(1).step_by(2) {
        let Some((method, path)) = piece.split_once(' ') else { continue };
        if ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"].contains(&method) && path.starts_with('/') {
            let path = path.split('?').next().unwrap_or(path);
            routes.insert((method.to_owned(), path.to_owned()));
        }
    }
    // "HEAD answers the same headers without a body."
    routes.insert(("HEAD".into(), "/api/v1/vault/{vault_id}/content".into()));
    routes
}

/// The routes of the shared baseline, or `None` (after a loud message) where it is not beside
/// the repository; CI, where it always is, fails instead.
fn baseline_routes() -> Option<BTreeSet<(String, String)>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/API.md");
    match std::fs::read_to_string(path) {
        Ok(text) => Some(routes_in(&text)),
        Err(e) if std::env::var("BLINDVAULT_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1") => {
            panic!("the contract {path} must be beside the repository: {e}")
        }
        Err(_) => {
            eprintln!("SKIPPED (baseline check): {path} is not there");
            None
        }
    }
}

fn described(spec: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "head", "patch"].contains(&method.as_str()) {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_matches_the_contract_and_the_router() {
    let app = spawn_app(&Deployment::Embedded).await;
    let resp = app.call(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let spec: Value = resp.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let ops = described(&spec);
    let documented = routes_in(include_str!("../../docs/API.md"));
    assert!(documented.len() >= 24, "docs/API.md was read: {documented:?}");
    let undescribed: Vec<_> = documented.difference(&ops).collect();
    assert!(undescribed.is_empty(), "routes of docs/API.md missing from the description: {undescribed:?}");
    let undocumented: Vec<_> = ops.difference(&documented).collect();
    assert!(undocumented.is_empty(), "described operations missing from docs/API.md: {undocumented:?}");
    if let Some(baseline) = baseline_routes() {
        assert!(baseline.len() >= 20, "the baseline was read: {baseline:?}");
        let missing: Vec<_> = baseline.difference(&ops).collect();
        assert!(missing.is_empty(), "routes of the v1 baseline no longer served: {missing:?}");
    }

    // Every described operation is routed (no 404 for an unknown path, no 405).
    for (method, path) in &ops {
        let url = path
            .replace("{vault_id}", "some-vault")
            .replace("{upload_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{session_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{id}", &uuid::Uuid::new_v4().to_string());
        let resp = app.call(Method::from_bytes(method.as_bytes()).unwrap(), &url, None, None).await;
        assert_ne!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if resp.status() == StatusCode::NOT_FOUND && method != "HEAD" {
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_ne!(body["detail"], "no such resource", "{method} {path} is not routed");
        }
    }

    // Errors, headers and security are described, not only the happy path.
    let put = &spec["paths"]["/api/v1/vault/{vault_id}"]["put"];
    for status in ["412", "428", "413"] {
        assert!(put["responses"][status].is_object(), "PUT vault describes {status}");
    }
    assert!(put["responses"]["412"]["headers"]["ETag"].is_object());
    let params: Vec<&str> =
        put["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(params.contains(&"If-Match") && params.contains(&"If-None-Match"), "{params:?}");
    let content = &spec["paths"]["/api/v1/vault/{vault_id}/content"]["get"]["responses"]["200"]["headers"];
    for h in ["ETag", "X-Vault-Iv", "X-Vault-Salt", "X-Vault-Version", "Accept-Ranges"] {
        assert!(content[h].is_object(), "content GET describes {h}");
    }
    assert_eq!(spec["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(spec["components"]["schemas"]["Problem"]["properties"]["code"].is_object());
}
