use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use blindvault::domain::Timestamp;

use crate::helpers::{
    Deployment, TestApp, assert_problem, b64, on_both_deployments, rand_bytes, spawn_app, spawn_app_with,
};

on_both_deployments!(
    create_read_list_delete,
    identical_creates_are_safe_retries,
    replaces_need_the_current_etag,
    vaults_are_private_and_scoped,
    bad_vault_input_changes_nothing,
    listing_pages_in_id_order,
    quotas_are_enforced,
);

/// A vault body for POST.
pub fn vault_body(id: &str, ciphertext: &[u8]) -> Value {
    json!({"vault_id": id, "ciphertext": b64(ciphertext), "iv": b64(&[1u8; 12]), "salt": b64(&[2u8; 16])})
}

/// The JSON body of a replace with `ciphertext`.
pub fn replace_body(ciphertext: &[u8]) -> Value {
    json!({"ciphertext": b64(ciphertext), "iv": b64(&[3u8; 12]), "salt": b64(&[4u8; 16]), "version": 2})
}

/// `PUT /api/v1/vault/{id}` with `body` and one precondition `header`.
pub async fn put_json(
    app: &TestApp,
    token: &str,
    id: &str,
    header: (&str, &str),
    body: Value,
) -> reqwest::Response {
    app.client
        .put(format!("{}/api/v1/vault/{id}", app.address))
        .bearer_auth(token)
        .header(header.0, header.1)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn etag_of(resp: &reqwest::Response) -> String {
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

pub(crate) async fn create_read_list_delete(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let data = rand_bytes(5000);
    let resp = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("main", &data))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["location"], "/api/v1/vault/main");
    let etag = etag_of(&resp);
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34, "{etag}");
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["etag"], etag, "the JSON and the header name the same revision");
    assert_eq!((created["vault_id"].as_str(), created["version"].as_i64()), (Some("main"), Some(1)));
    assert_eq!((created["revision"].as_i64(), created["size"].as_i64()), (Some(1), Some(5000)));
    assert_eq!(created["created_at"], created["updated_at"]);
    assert_eq!(created.as_object().unwrap().len(), 7, "{created}");

    let resp = app.call(Method::GET, "/api/v1/vault/main", Some(&token), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(etag_of(&resp), etag);
    let read: Value = resp.json().await.unwrap();
    assert_eq!(read["ciphertext"], b64(&data));
    assert_eq!(
        (read["iv"].as_str(), read["salt"].as_str()),
        (Some(b64(&[1u8; 12]).as_str()), Some(b64(&[2u8; 16]).as_str()))
    );
    assert_eq!(read["content_url"], "/api/v1/vault/main/content");

    let resp = app
        .client
        .get(format!("{}/api/v1/vault/main", app.address))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(etag_of(&resp), etag);
    assert!(resp.bytes().await.unwrap().is_empty());

    let list: Value = app.call(Method::GET, "/api/v1/vault", Some(&token), None).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0], created);
    assert!(list["next_cursor"].is_null());

    let user = read_user(&app, &token).await;
    assert_eq!(app.objects_of(&user).await.len(), 1, "one object at rest");
    let resp = app.call(Method::DELETE, "/api/v1/vault/main", Some(&token), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.call(Method::GET, "/api/v1/vault/main", Some(&token), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        app.call(Method::DELETE, "/api/v1/vault/main", Some(&token), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // The vault waits in the trash (tests/api/trash.rs); purged, its object stays for the
    // grace period, then the sweeper removes it.
    assert_eq!(app.objects_of(&user).await.len(), 1);
    let later = Timestamp::now().plus(std::time::Duration::from_secs(3600));
    app.state.sweeper.sweep(later).await.unwrap();
    assert_eq!(app.objects_of(&user).await.len(), 1, "kept in the trash");
    let trash: Value = app.call(Method::GET, "/api/v1/trash", Some(&token), None).await.json().await.unwrap();
    let trash_id = trash["items"][0]["trash_id"].as_str().unwrap().to_owned();
    let purged = app.call(Method::DELETE, &format!("/api/v1/trash/{trash_id}"), Some(&token), None).await;
    assert_eq!(purged.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.state.sweeper.sweep(later).await.unwrap().deleted, 1);
    assert!(app.objects_of(&user).await.is_empty());
}

/// The caller's user id.
pub async fn read_user(app: &TestApp, token: &str) -> String {
    let info: Value =
        app.call(Method::GET, "/api/v1/auth/session", Some(token), None).await.json().await.unwrap();
    info["user_id"].as_str().unwrap().to_owned()
}

async fn identical_creates_are_safe_retries(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let data = rand_bytes(100);
    let first = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("notes", &data))).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_body: Value = first.json().await.unwrap();
    let again = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("notes", &data))).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(again.headers().get("location").is_none());
    assert_eq!(again.json::<Value>().await.unwrap(), first_body);

    let other = app
        .call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body("notes", &rand_bytes(100))))
        .await;
    assert_problem(other, StatusCode::CONFLICT, "vault_exists").await;
    let now: Value =
        app.call(Method::GET, "/api/v1/vault/notes", Some(&token), None).await.json().await.unwrap();
    assert_eq!(
        (now["etag"].clone(), now["ciphertext"].clone()),
        (first_body["etag"].clone(), json!(b64(&data)))
    );
    let user = read_user(&app, &token).await;
    assert_eq!(app.objects_of(&user).await.len(), 1, "the retries' uploads were discarded");
}

pub(crate) async fn replaces_need_the_current_etag(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let resp = put_json(&app, &token, "k", ("x-nothing", "1"), replace_body(b"first")).await;
    assert_problem(resp, StatusCode::PRECONDITION_REQUIRED, "precondition_required").await;

    let resp = put_json(&app, &token, "k", ("if-none-match", "*"), replace_body(b"first")).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let v1 = etag_of(&resp);
    let resp = put_json(&app, &token, "k", ("if-none-match", "*"), replace_body(b"again")).await;
    assert_eq!(etag_of(&resp), v1, "412 carries the current ETag");
    assert_problem(resp, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;

    let resp = put_json(&app, &token, "k", ("if-match", &v1), replace_body(b"second")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v2 = etag_of(&resp);
    let body: Value = resp.json().await.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(
        (body["revision"].as_i64(), body["version"].as_i64(), body["size"].as_i64()),
        (Some(2), Some(2), Some(6))
    );
    assert_ne!(body["created_at"], body["updated_at"]);

    let resp = put_json(&app, &token, "k", ("if-match", &v1), replace_body(b"stale")).await;
    assert_eq!(etag_of(&resp), v2);
    assert_problem(resp, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    let resp = put_json(&app, &token, "k", ("if-match", "W/\"whatever\""), replace_body(b"weak")).await;
    assert_problem(resp, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    let resp = put_json(&app, &token, "k", ("if-match", "not-quoted"), replace_body(b"bad")).await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_header").await;

    let resp = put_json(&app, &token, "k", ("if-match", "*"), replace_body(b"third")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v3 = etag_of(&resp);
    let read: Value =
        app.call(Method::GET, "/api/v1/vault/k", Some(&token), None).await.json().await.unwrap();
    assert_eq!((read["revision"].as_i64(), read["ciphertext"].clone()), (Some(3), json!(b64(b"third"))));

    let del = |etag: String| {
        app.client
            .delete(format!("{}/api/v1/vault/k", app.address))
            .bearer_auth(&token)
            .header("if-match", etag)
            .send()
    };
    let resp = del(v2).await.unwrap();
    assert_eq!(etag_of(&resp), v3);
    assert_problem(resp, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    assert_eq!(del(v3).await.unwrap().status(), StatusCode::NO_CONTENT);
}

async fn vaults_are_private_and_scoped(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, alice) = app.user().await;
    let (bob_creds, bob) = app.user().await;
    let resp =
        app.call(Method::POST, "/api/v1/vault", Some(&alice), Some(vault_body("main", b"alice's"))).await;
    let alice_etag = etag_of(&resp);

    for method in [Method::GET, Method::DELETE] {
        let resp = app.call(method, "/api/v1/vault/main", Some(&bob), None).await;
        assert_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
    let resp = app.call(Method::GET, "/api/v1/vault/main/content", Some(&bob), None).await;
    assert_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    let resp = put_json(&app, &bob, "main", ("if-match", &alice_etag), replace_body(b"bob's")).await;
    let problem = assert_problem(resp, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    assert!(!problem.to_string().contains(alice_etag.trim_matches('"')));
    // Bob's own "main" is another vault.
    let resp = app.call(Method::POST, "/api/v1/vault", Some(&bob), Some(vault_body("main", b"bob's"))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let list: Value = app.call(Method::GET, "/api/v1/vault", Some(&bob), None).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let read: Value =
        app.call(Method::GET, "/api/v1/vault/main", Some(&alice), None).await.json().await.unwrap();
    assert_eq!(
        (read["ciphertext"].clone(), format!("\"{}\"", read["etag"].as_str().unwrap().trim_matches('"'))),
        (json!(b64(b"alice's")), alice_etag)
    );

    let mut login = bob_creds.login_body();
    login["scope"] = json!("vault:read");
    let reader = app.login_with(login.clone()).await["access_token"].as_str().unwrap().to_owned();
    login["scope"] = json!("vault:write");
    let writer = app.login_with(login).await["access_token"].as_str().unwrap().to_owned();
    let resp = app.call(Method::POST, "/api/v1/vault", Some(&reader), Some(vault_body("x", b"x"))).await;
    assert_problem(resp, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let resp = app.call(Method::DELETE, "/api/v1/vault/main", Some(&reader), None).await;
    assert_problem(resp, StatusCode::FORBIDDEN, "insufficient_scope").await;
    for path in ["/api/v1/vault/main", "/api/v1/vault", "/api/v1/vault/main/content"] {
        let resp = app.call(Method::GET, path, Some(&writer), None).await;
        assert_problem(resp, StatusCode::FORBIDDEN, "insufficient_scope").await;
    }
    assert_eq!(
        app.call(Method::GET, "/api/v1/vault/main", Some(&reader), None).await.status(),
        StatusCode::OK
    );
    let resp = app.call(Method::GET, "/api/v1/vault/main", None, None).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

async fn bad_vault_input_changes_nothing(d: Deployment) {
    let app = spawn_app_with(&d, &["--max-json-vault-bytes", "1024"]).await;
    let (_, token) = app.user().await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (vault_body("a b", b"x"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (vault_body("..", b"x"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (vault_body(&"v".repeat(129), b"x"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (
            {
                let mut b = vault_body("ok", b"x");
                b["iv"] = json!(b64(&[1u8; 7]));
                b
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            {
                let mut b = vault_body("ok", b"x");
                b["salt"] = json!(b64(&[1u8; 65]));
                b
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            {
                let mut b = vault_body("ok", b"x");
                b["version"] = json!(0);
                b
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            {
                let mut b = vault_body("ok", b"x");
                b["ciphertext"] = json!("***");
                b
            },
            StatusCode::BAD_REQUEST,
            "invalid_base64",
        ),
        (
            {
                let mut b = vault_body("ok", b"x");
                b["owner"] = json!("me");
                b
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (vault_body("ok", &[7u8; 1025]), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ];
    for (body, status, code) in cases {
        let resp = app.call(Method::POST, "/api/v1/vault", Some(&token), Some(body.clone())).await;
        assert_problem(resp, status, code).await;
    }
    let resp = app.call(Method::GET, "/api/v1/vault/a%20b", Some(&token), None).await;
    assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let list: Value = app.call(Method::GET, "/api/v1/vault", Some(&token), None).await.json().await.unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
    assert!(app.objects_of(&read_user(&app, &token).await).await.is_empty());
}

async fn listing_pages_in_id_order(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let ids = ["b", "B", "a.1", "a", "_x", "Z-9"];
    for id in ids {
        let resp =
            app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body(id, id.as_bytes()))).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/vault?limit=4&cursor={c}"),
            None => "/api/v1/vault?limit=4".to_owned(),
        };
        let page: Value = app.call(Method::GET, &path, Some(&token), None).await.json().await.unwrap();
        seen.extend(
            page["items"].as_array().unwrap().iter().map(|v| v["vault_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected, "bytewise order on both engines");
    for bad in [
        "/api/v1/vault?limit=0",
        "/api/v1/vault?limit=1001",
        "/api/v1/vault?cursor=%%%",
        "/api/v1/vault?limit=x",
        "/api/v1/vault?page=2",
    ] {
        let resp = app.call(Method::GET, bad, Some(&token), None).await;
        assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    }
}

async fn quotas_are_enforced(d: Deployment) {
    // Without history, a replace frees the old revision's bytes (with history they stay
    // counted: tests/api/trash.rs).
    let app =
        spawn_app_with(&d, &["--quota-vaults", "2", "--quota-bytes", "1000", "--keep-revisions", "0"]).await;
    let (_, token) = app.user().await;
    let post = |id: &'static str, len: usize| {
        app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body(id, &vec![1u8; len])))
    };
    assert_eq!(post("a", 600).await.status(), StatusCode::CREATED);
    assert_problem(post("b", 500).await, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    let resp = post("b", 300).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_problem(post("c", 1).await, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    // Replacing frees the old revision's bytes: 300 + 700 fits.
    let resp = put_json(&app, &token, "a", ("if-match", "*"), replace_body(&[2u8; 700])).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let limits: Value = app.call(Method::GET, "/api/v1/limits", None, None).await.json().await.unwrap();
    assert_eq!((limits["quota_bytes"].as_u64(), limits["quota_vaults"].as_u64()), (Some(1000), Some(2)));
}
