use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Creds, Deployment, assert_problem, b64, on_both_deployments, spawn_app, spawn_app_with,
};

on_both_deployments!(
    register_stores_only_an_argon2_hash,
    usernames_are_lowercased_and_unique,
    out_of_range_values_are_refused,
    closed_registration_is_forbidden,
    prelogin_returns_the_real_salt_or_a_stable_decoy,
);

async fn register_stores_only_an_argon2_hash(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = Creds::random();
    let resp = app.post("/api/v1/auth/register", creds.register_body()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["username"], creds.username);
    let user_id = body["user_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(user_id).is_ok());
    assert!(
        time::OffsetDateTime::parse(
            body["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");

    let user = app.store.user_by_username(&creds.username).await.unwrap().expect("stored");
    assert_eq!(user.id.to_string(), user_id);
    assert!(user.auth_phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{}", user.auth_phc);
    assert!(!user.auth_phc.contains(&b64(&creds.auth_hash).trim_end_matches('=').to_string()));
    assert_eq!(user.kdf_salt, creds.salt);
    assert_eq!(user.kdf_iterations, 600000);
    assert_eq!(user.kdf, "pbkdf2-sha256");
}

async fn usernames_are_lowercased_and_unique(d: Deployment) {
    let app = spawn_app(&d).await;
    let mut creds = Creds::random();
    creds.username = "Alice.Example+vault@Mail.org".into();
    let resp = app.post("/api/v1/auth/register", creds.register_body()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.json::<Value>().await.unwrap()["username"], "alice.example+vault@mail.org");

    let mut again = Creds::random();
    again.username = "ALICE.example+vault@mail.ORG".into();
    let resp = app.post("/api/v1/auth/register", again.register_body()).await;
    assert_problem(resp, StatusCode::CONFLICT, "username_taken").await;

    // Login works with any casing.
    let mut login = creds.clone();
    login.username = "alice.EXAMPLE+vault@mail.org".into();
    app.login(&login).await;
}

async fn out_of_range_values_are_refused(d: Deployment) {
    let app = spawn_app(&d).await;
    let base = Creds::random().register_body();
    let cases: Vec<(&str, Value)> = vec![
        ("username", json!("ab")),
        ("username", json!("white space")),
        ("username", json!("x".repeat(65))),
        ("auth_hash", json!(b64(&[1u8; 31]))),
        ("salt", json!(b64(&[1u8; 15]))),
        ("salt", json!(b64(&[1u8; 65]))),
        ("kdf", json!("argon2")),
        ("iterations", json!(599999)),
        ("iterations", json!(-1)),
        ("iterations", json!("600000")),
    ];
    for (field, value) in cases {
        let mut body = base.clone();
        body[field] = value.clone();
        let resp = app.post("/api/v1/auth/register", body).await;
        let problem = assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert!(problem["detail"].as_str().unwrap().contains(field), "{field}={value}: {problem}");
    }
    for field in ["username", "auth_hash", "salt", "kdf", "iterations"] {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(field);
        let resp = app.post("/api/v1/auth/register", body).await;
        assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    }
    let name = base["username"].as_str().unwrap();
    assert!(app.store.user_by_username(name).await.unwrap().is_none(), "nothing was stored");
}

async fn closed_registration_is_forbidden(d: Deployment) {
    let app = spawn_app_with(&d, &["--registration", "closed"]).await;
    let creds = Creds::random();
    let resp = app.post("/api/v1/auth/register", creds.register_body()).await;
    assert_problem(resp, StatusCode::FORBIDDEN, "registration_closed").await;
    assert!(app.store.user_by_username(&creds.username).await.unwrap().is_none());
}

async fn prelogin_returns_the_real_salt_or_a_stable_decoy(d: Deployment) {
    let app = spawn_app(&d).await;
    let creds = app.register().await;
    let resp = app.post("/api/v1/auth/prelogin", json!({"username": creds.username.to_uppercase()})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"kdf": "pbkdf2-sha256", "iterations": 600000, "salt": b64(&creds.salt)})
    );

    let ask = |name: &str| app.post("/api/v1/auth/prelogin", json!({"username": name}));
    let first: Value = ask("nobody-here").await.json().await.unwrap();
    let second: Value = ask("Nobody-Here").await.json().await.unwrap();
    let other: Value = ask("nobody-else").await.json().await.unwrap();
    assert_eq!(first, second, "a decoy is stable");
    assert_ne!(first["salt"], other["salt"], "decoys differ per name");
    assert_eq!(first["kdf"], "pbkdf2-sha256");
    assert_eq!(first["iterations"], 600000);
    // Same shape as a real (32-byte) salt.
    assert_eq!(first["salt"].as_str().unwrap().len(), b64(&creds.salt).len());
    assert_eq!(first.as_object().unwrap().len(), 3);

    // The decoy survives a restart and is shared by every replica (it lives in the store).
    let sibling = app.sibling(&[]).await;
    let again: Value =
        sibling.post("/api/v1/auth/prelogin", json!({"username": "nobody-here"})).await.json().await.unwrap();
    assert_eq!(first, again);
}
