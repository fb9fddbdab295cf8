//! Forged tokens and hostile input: always a 4xx, never a 5xx, never another user's data.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Deployment, TestApp, assert_problem, on_both_deployments, spawn_app};
use crate::vaults_json::vault_body;

on_both_deployments!(
    forged_tokens_are_refused,
    a_token_gets_no_more_than_its_session,
    hostile_input_gets_a_4xx
);

/// The server's signing key, as the deployment configured or generated it.
fn server_key(app: &TestApp) -> Vec<u8> {
    match app.args.iter().position(|a| a == "--jwt-secret") {
        Some(i) => app.args[i + 1].as_bytes().to_vec(),
        None => std::fs::read_to_string(app.dir.path().join("jwt.key")).unwrap().trim().as_bytes().to_vec(),
    }
}

async fn session_status(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let resp = app.call(Method::GET, "/api/v1/auth/session", Some(token), None).await;
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn forged_tokens_are_refused(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let (_, victim_token) = app.user().await;
    let (status, genuine) = session_status(&app, &token).await;
    assert_eq!(status, StatusCode::OK);
    let (_, victim) = session_status(&app, &victim_token).await;
    let key = server_key(&app);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |over: Value| {
        let mut c = json!({
            "sub": genuine["user_id"], "sid": genuine["session_id"], "scope": "vault:read vault:write account",
            "iat": now, "exp": now + 600, "iss": "blindvault", "aud": "blindvault-api",
        });
        for (k, v) in over.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let sign = |c: &Value, secret: &[u8]| {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), c, &EncodingKey::from_secret(secret)).unwrap()
    };
    // The real key with the real claims works: the forgeries below differ in one thing each.
    assert_eq!(session_status(&app, &sign(&claims(json!({})), &key)).await.0, StatusCode::OK);

    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims(json!({}))));
    let signed = sign(&claims(json!({})), &key);
    let parts: Vec<&str> = signed.split('.').collect();
    let rs_swap = format!("{}.{}.{}", b64(&json!({"alg": "RS256", "typ": "JWT"})), parts[1], parts[2]);
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims(json!({"sub": victim["user_id"]}))), parts[2]);
    let forgeries = [
        ("alg none", alg_none),
        ("HS/RS swap", rs_swap),
        ("tampered payload", tampered),
        ("wrong key", sign(&claims(json!({})), b"another-key-0123456789abcdef-0123456789")),
        ("wrong audience", sign(&claims(json!({"aud": "someone-else"})), &key)),
        ("wrong issuer", sign(&claims(json!({"iss": "evil"})), &key)),
        (
            "no expiry",
            sign(
                &json!({"sub": genuine["user_id"], "sid": genuine["session_id"], "scope": "account", "iss": "blindvault", "aud": "blindvault-api"}),
                &key,
            ),
        ),
        ("unknown scope", sign(&claims(json!({"scope": "admin"})), &key)),
    ];
    for (what, token) in forgeries {
        let (status, body) = session_status(&app, &token).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
            "{what}"
        );
    }
    let expired = sign(&claims(json!({"iat": now - 7200, "exp": now - 3600})), &key);
    assert_eq!(session_status(&app, &expired).await.1["code"], "token_expired");
    // Validly signed, but naming the victim with the attacker's session (or the reverse).
    let mixed = sign(&claims(json!({"sub": victim["user_id"]})), &key);
    assert_eq!(session_status(&app, &mixed).await.1["code"], "token_revoked");
}

/// Claims for `session` (as `GET /auth/session` showed it), signed with the server's key,
/// with `over` replacing some.
fn signed_claims(app: &TestApp, session: &Value, over: Value) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "sub": session["user_id"], "sid": session["session_id"], "scope": session["scope"],
        "iat": now, "exp": now + 600, "iss": "blindvault", "aud": "blindvault-api",
    });
    for (k, v) in over.as_object().unwrap() {
        claims[k] = v.clone();
    }
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&server_key(app)))
        .unwrap()
}

/// Even a token signed with the server's own key (a leaked key, a bug in issuing) gets no
/// wider scope than its session was granted and no longer life than the server gives.
async fn a_token_gets_no_more_than_its_session(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let mut login = creds.login_body();
    login["scope"] = json!("vault:read");
    let narrow = app.login_with(login).await["access_token"].as_str().unwrap().to_owned();
    let (status, session) = session_status(&app, &narrow).await;
    assert_eq!(status, StatusCode::OK);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(session_status(&app, &signed_claims(&app, &session, json!({}))).await.0, StatusCode::OK);
    let forgeries = [
        ("a scope the session was not granted", json!({"scope": "vault:read vault:write account"})),
        ("ten years to live", json!({"exp": now + 10 * 365 * 86400})),
        ("issued in the future", json!({"iat": now + 3600, "exp": now + 4200})),
    ];
    for (what, over) in forgeries {
        let (status, body) = session_status(&app, &signed_claims(&app, &session, over)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
            "{what}"
        );
    }
    // The session's scope is what counts: a write with the narrow session is refused.
    let resp = app.call(Method::POST, "/api/v1/vault", Some(&narrow), Some(vault_body("v", b"x"))).await;
    assert_problem(resp, StatusCode::FORBIDDEN, "insufficient_scope").await;
}

async fn hostile_input_gets_a_4xx(d: Deployment) {
    let app = spawn_app(&d).await;
    let (_, token) = app.user().await;
    let (_, other) = app.user().await;
    app.call(Method::POST, "/api/v1/vault", Some(&other), Some(vault_body("secret", b"other's"))).await;
    let url = |p: &str| format!("{}{p}", app.address);

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let resp = app
        .client
        .post(url("/api/v1/vault"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "deep nesting: {}", resp.status());
    let resp = app
        .client
        .post(url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
    let resp = app.client.get(url("/health")).header("x-padding", "a".repeat(1_000_000)).send().await;
    assert!(
        resp.map(|r| r.status() == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).unwrap_or(true),
        "huge headers are refused with 431 (or the connection is cut while they are still sent)"
    );

    for path in [
        "/api/v1/vault/..%2Fsecret",
        "/api/v1/vault/%2e%2e",
        "/api/v1/vault/a%2Fb",
        "/api/v1/vault/%00",
        "/api/v1/vault/secret%20",
    ] {
        let resp = app.call(Method::GET, path, Some(&token), None).await;
        let status = resp.status();
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::NOT_FOUND,
            "{path}: {status}"
        );
        assert!(!resp.text().await.unwrap().contains("other's"), "{path}");
    }
    for (name, value) in [
        ("range", "bytes=0-1,2-3,4-5"),
        ("range", "bytes=-"),
        ("range", "bytes=99999999999999999999-"),
        ("if-none-match", "\"a\", W/\"b\", \"c"),
    ] {
        let resp = app
            .client
            .get(url("/api/v1/vault/secret/content"))
            .bearer_auth(&other)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success() || resp.status().is_client_error(),
            "{name}: {value} -> {}",
            resp.status()
        );
    }
    let resp = app
        .client
        .put(url("/api/v1/vault/secret"))
        .bearer_auth(&other)
        .header("if-match", "\"a\", \"b\"")
        .json(&json!({"ciphertext": "", "iv": "AAAAAAAAAAA=", "salt": "AAAAAAAAAAA="}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_header").await;
    let read: Value =
        app.call(Method::GET, "/api/v1/vault/secret", Some(&other), None).await.json().await.unwrap();
    assert_eq!(read["revision"], 1, "nothing changed");
}
