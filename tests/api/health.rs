use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Deployment, assert_problem, on_both_deployments, spawn_app, spawn_app_with};

on_both_deployments!(health_and_ready_answer, not_ready_names_the_object_store, limits_are_published);

async fn health_and_ready_answer(d: Deployment) {
    let app = spawn_app(&d).await;
    let resp = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "ok"}));

    let resp = app.call(Method::GET, "/health/ready", None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["checks"], json!({"database": "ok", "object_store": "ok", "change_feed": "ok"}));
}

async fn not_ready_names_the_object_store(d: Deployment) {
    // An S3 endpoint where nothing listens: the store fails, the database does not.
    let app = spawn_app_with(
        &d,
        &[
            "--storage-url",
            "s3://missing-bucket",
            "--s3-endpoint",
            "http://127.0.0.1:9",
            "--s3-allow-http",
            "true",
            "--s3-access-key-id",
            "x",
            "--s3-secret-access-key",
            "y",
        ],
    )
    .await;
    let resp = app.call(Method::GET, "/health/ready", None, None).await;
    assert_eq!(resp.headers()["retry-after"], "5");
    let body = assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(body["checks"], json!({"database": "ok", "object_store": "failed", "change_feed": "ok"}));
    let text = body.to_string();
    assert!(!text.contains("127.0.0.1") && !text.contains("missing-bucket"), "{text}");
}

async fn limits_are_published(d: Deployment) {
    let app = spawn_app_with(&d, &["--registration", "closed", "--max-json-vault-bytes", "1024"]).await;
    let resp = app.call(Method::GET, "/api/v1/limits", None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({
            "max_json_vault_bytes": 1024,
            "max_vault_bytes": 10u64 * 1024 * 1024 * 1024,
            "min_kdf_iterations": 600000,
            "registration": "closed",
            "quota_bytes": null,
            "quota_vaults": null,
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_names_the_database_when_postgres_goes_away() {
    let Some(d) = Deployment::production() else {
        return;
    };
    let app = spawn_app(&d).await;
    let resp = app.call(Method::GET, "/health/ready", None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // Drop the test database under the running app: its connections die and cannot return.
    let Deployment::Production { admin_url, .. } = &d else { unreachable!() };
    let db_url = &app.args[app.args.iter().position(|a| a == "--database-url").unwrap() + 1];
    let name = url::Url::parse(db_url).unwrap().path().trim_start_matches('/').to_owned();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .unwrap();

    let resp = app.call(Method::GET, "/health/ready", None, None).await;
    let body = assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    // The listener went with the database too; whether that was noticed yet does not matter here.
    assert_eq!(
        (&body["checks"]["database"], &body["checks"]["object_store"]),
        (&json!("failed"), &json!("ok"))
    );
    assert!(!body.to_string().contains(&name));

    // A request that needs the database is a 503 too, not a 500.
    let resp = app.post("/api/v1/auth/prelogin", json!({"username": "someone"})).await;
    assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}
