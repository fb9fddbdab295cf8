//! The web vault page: served at `/` with a strict policy, revalidated by ETag, made of
//! same-origin files only, turned off by configuration, or read from a directory.

use reqwest::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};

use crate::helpers::{Deployment, TestApp, assert_problem, on_both_deployments, spawn_app, spawn_app_with};

on_both_deployments!(
    page_is_served_with_a_strict_policy,
    page_can_be_turned_off,
    page_can_come_from_a_directory
);

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self'; worker-src 'self'; manifest-src 'self'; form-action 'none'; base-uri 'none'; \
     frame-ancestors 'none'";

fn assert_hardened(resp: &reqwest::Response) {
    let h = resp.headers();
    assert_eq!(h["content-security-policy"], CSP);
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-cache");
}

/// Every `src="..."` and `href="..."` of an HTML document.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').expect("attribute closed");
            found.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    found
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.call(Method::GET, path, None, None).await
}

async fn page_is_served_with_a_strict_policy(d: Deployment) {
    let app = spawn_app(&d).await;
    let resp = get(&app, "/").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_hardened(&resp);
    let etag = resp.headers()[ETAG].to_str().unwrap().to_owned();
    let html = resp.text().await.unwrap();

    // No inline script or style, nothing from another origin: every script has a src, no
    // element carries a style attribute or an event handler, every reference is a relative path.
    let lower = html.to_ascii_lowercase();
    assert_eq!(lower.matches("<script").count(), lower.matches("<script type=\"module\" src=").count());
    assert!(!lower.contains(" style=") && !lower.contains("<style") && !lower.contains(" onclick="));
    let refs = references(&html);
    assert!(refs.iter().any(|r| r.ends_with(".js")), "the page loads its script: {refs:?}");
    for r in &refs {
        if r.starts_with('#') {
            continue;
        }
        assert!(!r.contains(':') && !r.starts_with("//"), "{r} is not a same-origin path");
        let resp = get(&app, &format!("/{r}")).await;
        assert_eq!(resp.status(), StatusCode::OK, "{r}");
        assert_hardened(&resp);
        let kind = resp.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        let expected = match r.rsplit_once('.').map(|(_, e)| e) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("unexpected reference {r} ({other:?})"),
        };
        assert_eq!(kind, expected, "{r}");
        let body = resp.text().await.unwrap();
        let names_origin = |scheme: &str| {
            body.match_indices(scheme).any(|(i, _)| {
                body[i + scheme.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
                    && !body[i..].starts_with("http://www.w3.org/2000/svg")
            })
        };
        assert!(!names_origin("http://") && !names_origin("https://"), "{r} names another origin");
    }

    // Revalidation: the same ETag gives 304 with the same policy; HEAD has the headers only.
    let resp = app.client.get(format!("{}/", app.address)).header(IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_hardened(&resp);
    let resp = app.call(Method::HEAD, "/", None, None).await;
    assert_eq!((resp.status(), resp.headers()[ETAG].to_str().unwrap()), (StatusCode::OK, etag.as_str()));
    assert!(resp.bytes().await.unwrap().is_empty());

    // Anything else is the API's 404; the page's routes take no writes.
    assert_problem(get(&app, "/nope.js").await, StatusCode::NOT_FOUND, "not_found").await;
    let resp = app.call(Method::POST, "/", None, None).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn page_can_be_turned_off(d: Deployment) {
    let app = spawn_app_with(&d, &["--web", "false"]).await;
    assert_problem(get(&app, "/").await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(get(&app, "/app.js").await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(get(&app, "/health").await.status(), StatusCode::OK, "the API is unaffected");
}

async fn page_can_come_from_a_directory(d: Deployment) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><title>dev</title>").unwrap();
    std::fs::write(dir.path().join(".secret"), "hidden").unwrap();
    let app = spawn_app_with(&d, &["--web-dir", dir.path().to_str().unwrap()]).await;
    let resp = get(&app, "/").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_hardened(&resp);
    assert_eq!(resp.text().await.unwrap(), "<!doctype html><title>dev</title>");

    // Read on every request: a file written now is served now.
    std::fs::write(dir.path().join("extra.js"), "export {};").unwrap();
    let resp = get(&app, "/extra.js").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");

    // (`/%2e%2e` cannot be sent: URL parsers resolve it as a dot segment before the request.)
    for hidden in ["/.secret", "/..%2Fetc%2Fpasswd", "/a%2Fb.js", "/missing.css"] {
        assert_problem(get(&app, hidden).await, StatusCode::NOT_FOUND, "not_found").await;
    }
}
