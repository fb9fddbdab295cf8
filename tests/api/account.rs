use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Deployment, assert_problem, b64, on_both_deployments, rand_bytes, spawn_app};
use crate::tus::{at_rest, create, metadata, multipart_uploads, patch};
use crate::vaults_json::{read_user, vault_body};

on_both_deployments!(
    deleting_the_account_leaves_nothing_of_the_user,
    deleting_the_account_releases_its_unfinished_uploads,
);

async fn deleting_the_account_leaves_nothing_of_the_user(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let (_, other) = app.user().await;
    for id in ["a", "b", "c"] {
        let resp =
            app.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault_body(id, id.as_bytes()))).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    // A replaced revision is still queued (inside its grace period) when the account goes.
    let resp = app
        .client
        .put(format!("{}/api/v1/vault/a", app.address))
        .bearer_auth(&token)
        .header("if-match", "*")
        .json(&json!({"ciphertext": b64(b"a2"), "iv": b64(&[1u8; 8]), "salt": b64(&[1u8; 8])}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    app.call(Method::POST, "/api/v1/vault", Some(&other), Some(vault_body("a", b"other's"))).await;
    let user = read_user(&app, &token).await;
    assert_eq!(app.objects_of(&user).await.len(), 4);
    let second_session = app.login(&creds).await;

    let mut wrong = creds.auth_hash.clone();
    wrong[0] ^= 1;
    let resp = app
        .call(Method::DELETE, "/api/v1/account", Some(&token), Some(json!({"auth_hash": b64(&wrong)})))
        .await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let mut login = creds.login_body();
    login["scope"] = json!("vault:read vault:write");
    let narrow = app.login_with(login).await["access_token"].as_str().unwrap().to_owned();
    let body = json!({"auth_hash": b64(&creds.auth_hash)});
    let resp = app.call(Method::DELETE, "/api/v1/account", Some(&narrow), Some(body.clone())).await;
    assert_problem(resp, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(app.objects_of(&user).await.len(), 4, "refused deletions change nothing");

    let resp = app.call(Method::DELETE, "/api/v1/account", Some(&token), Some(body)).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    assert!(app.objects_of(&user).await.is_empty(), "no object of the user remains");
    assert!(app.store.user_by_username(&creds.username).await.unwrap().is_none());
    let uid = uuid::Uuid::parse_str(&user).unwrap();
    assert!(app.state.vaults.list(uid, None, 1000).await.unwrap().items.is_empty(), "no vault row remains");
    let sid = second_session["access_token"].as_str().unwrap();
    assert_problem(
        app.call(Method::GET, "/api/v1/auth/session", Some(sid), None).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_problem(
        app.post("/api/v1/auth/login", creds.login_body()).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let resp =
        app.post("/api/v1/auth/refresh", json!({"refresh_token": second_session["refresh_token"]})).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // The username is free again; the other user is untouched.
    let resp = app.post("/api/v1/auth/register", creds.register_body()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let theirs: Value =
        app.call(Method::GET, "/api/v1/vault/a", Some(&other), None).await.json().await.unwrap();
    assert_eq!(theirs["ciphertext"], b64(b"other's"));
    // Nothing is left queued for that user either: a sweep far in the future deletes nothing of theirs.
    let later = blindvault::domain::Timestamp::now().plus(std::time::Duration::from_secs(86400 * 30));
    assert_eq!(app.state.sweeper.sweep(later).await.unwrap().deleted, 0);
}

async fn deleting_the_account_releases_its_unfinished_uploads(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let user = app.stored_user(&creds.username).await.id;
    // One 8 MiB part and a 1 MiB tail stored, of 20 MiB.
    let url = create(&app.address, &token, 20 << 20, &metadata("big", &[])).await;
    assert_eq!(patch(&url, &token, 0, rand_bytes(9 << 20), None).await.status(), StatusCode::NO_CONTENT);
    assert!(!at_rest(&app, &user.to_string()).await.is_empty(), "the upload holds storage");
    let production = matches!(d, Deployment::Production { .. });
    assert_eq!(multipart_uploads(&d, user).await > 0, production, "a multipart upload is open on S3");

    let body = json!({"auth_hash": b64(&creds.auth_hash)});
    let resp = app.call(Method::DELETE, "/api/v1/account", Some(&token), Some(body)).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        at_rest(&app, &user.to_string()).await,
        Vec::<String>::new(),
        "no spool, tail or object remains"
    );
    assert_eq!(multipart_uploads(&d, user).await, 0, "the multipart upload was aborted");
    let later = blindvault::domain::Timestamp::now().plus(std::time::Duration::from_secs(86400 * 30));
    assert_eq!(app.state.sweeper.sweep(later).await.unwrap().deleted, 0, "nothing was left for the sweeper");
}
