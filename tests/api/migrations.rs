//! Migrations both ways, on both engines, with data present: `migrate --to` steps the schema
//! down (the live vaults and accounts stay; what the reverted migrations kept is queued for
//! deletion) and up again; and a binary older than the schema (a rollback) warns and serves.

use std::process::{Command, Output};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use blindvault::config::DatabaseLocation;

use crate::helpers::{Deployment, TestApp, b64, on_both_deployments, spawn_app};

on_both_deployments!(down_and_up_again_keep_the_live_vaults, a_binary_older_than_the_schema_serves);

/// Before revision history (issue 15) and account security (issue 16).
const BEFORE_HISTORY: &str = "20261203000001";
/// The newest migration (both engines number theirs alike).
pub const LATEST: &str = "20261208000001";

fn migrate(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blindvault"))
        .arg("migrate")
        .args(args)
        .args(&app.args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("blindvault migrate runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs `statements` on `app`'s database, returning the first column of the last one's rows as text.
pub(crate) async fn sql(app: &TestApp, statements: &[&str]) -> Vec<String> {
    let settings = blindvault::Settings::from_args(&app.args).unwrap();
    let mut out = Vec::new();
    match settings.database().unwrap() {
        DatabaseLocation::Postgres(url) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url.expose()).await.unwrap();
            for s in statements {
                out = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(*s))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            }
        }
        DatabaseLocation::Sqlite(url) => {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            for s in statements {
                out = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(*s))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }
    out
}

fn vault(id: &str, byte: u8) -> Value {
    json!({ "vault_id": id, "ciphertext": b64(&[byte; 64]), "iv": b64(&[2; 12]), "salt": b64(&[3; 16]) })
}

async fn down_and_up_again_keep_the_live_vaults(d: Deployment) {
    let app = spawn_app(&d).await;
    let (creds, token) = app.user().await;
    let created: Value = app
        .call(Method::POST, "/api/v1/vault", Some(&token), Some(vault("kept", 1)))
        .await
        .json()
        .await
        .unwrap();
    let first = created["etag"].as_str().unwrap().trim_matches('"').to_owned();
    let replace = app
        .client
        .put(format!("{}/api/v1/vault/kept", app.address))
        .bearer_auth(&token)
        .header("if-match", format!("\"{first}\""))
        .json(&json!({ "ciphertext": b64(&[4; 64]), "iv": b64(&[2; 12]), "salt": b64(&[3; 16]) }))
        .send()
        .await
        .unwrap();
    assert_eq!(replace.status(), StatusCode::OK);
    let current = replace.headers()["etag"].to_str().unwrap().trim_matches('"').to_owned();
    let binned: Value = app
        .call(Method::POST, "/api/v1/vault", Some(&token), Some(vault("binned", 5)))
        .await
        .json()
        .await
        .unwrap();
    let binned = binned["etag"].as_str().unwrap().trim_matches('"').to_owned();
    assert_eq!(
        app.call(Method::DELETE, "/api/v1/vault/binned", Some(&token), None).await.status(),
        StatusCode::NO_CONTENT
    );
    crate::second_factors::enable_totp(&app, &creds, &token).await;

    let down = migrate(&app, &["--to", BEFORE_HISTORY]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(text(&down).contains(&format!("the schema is at {BEFORE_HISTORY}")));
    // The small bodies (both revisions of `kept`, and `binned`) moved to the object store first.
    assert!(text(&down).contains("moved 3 small bodies"), "{}", text(&down));
    let in_bucket = app.blobs.list("vaults").await.unwrap();
    assert_eq!(in_bucket.len(), 3, "{in_bucket:?}");
    let live = sql(&app, &["SELECT etag FROM vaults"]).await;
    assert_eq!(live, std::slice::from_ref(&current), "the live vault stays as it was");
    let queued = sql(&app, &["SELECT object_key FROM pending_objects ORDER BY object_key"]).await;
    for etag in [&first, &binned] {
        assert!(queued.iter().any(|k| k.ends_with(&format!("/{etag}"))), "{etag} not queued: {queued:?}");
    }
    assert!(!queued.iter().any(|k| k.ends_with(&format!("/{current}"))), "the live object is not queued");
    let check = migrate(&app, &["--check"]);
    assert!(text(&check).contains("6 migration(s) pending"), "{}", text(&check));

    let up = migrate(&app, &[]);
    assert!(up.status.success() && text(&up).contains("applied 6 migration(s)"), "{}", text(&up));
    // A backup before each step: down, then up.
    let backups = Command::new(env!("CARGO_BIN_EXE_blindvault"))
        .args(["backup", "--list"])
        .args(&app.args)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&backups.stdout).into_owned();
    assert_eq!(listed.lines().filter(|l| l.contains("-before-migrate.")).count(), 2, "{listed}");
    assert!(
        listed.contains(&format!("-v{LATEST}-before-migrate."))
            && listed.contains(&format!("-v{BEFORE_HISTORY}-before-migrate.")),
        "{listed}"
    );
    let again = app.sibling(&[]).await;
    let pair = again.login(&creds).await;
    let token = pair["access_token"].as_str().unwrap();
    let read: Value =
        again.call(Method::GET, "/api/v1/vault/kept", Some(token), None).await.json().await.unwrap();
    assert_eq!(read["etag"].as_str().map(|e| e.trim_matches('"')), Some(current.as_str()));
    assert_eq!(read["ciphertext"].as_str(), Some(b64(&[4; 64]).as_str()));
    let trash: Value =
        again.call(Method::GET, "/api/v1/trash", Some(token), None).await.json().await.unwrap();
    assert_eq!(trash["items"], json!([]), "the trash went with the reverted migration");
}

async fn a_binary_older_than_the_schema_serves(d: Deployment) {
    let app = spawn_app(&d).await;
    let future = match d {
        Deployment::Embedded => {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                                 VALUES (29990101000001, 'a newer binary''s', 1, x'00', 0)"
        }
        Deployment::Production { .. } => {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                                          VALUES (29990101000001, 'a newer binary''s', true, '\\x00', 0)"
        }
    };
    sql(&app, &["ALTER TABLE users ADD COLUMN future_note TEXT", future, "SELECT 'ok'"]).await;

    let older = app.sibling(&[]).await;
    let (creds, token) = older.user().await;
    let created =
        older.call(Method::POST, "/api/v1/vault", Some(&token), Some(vault("still-works", 7))).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(older.login(&creds).await["token_type"], "Bearer");
    let check = migrate(&app, &["--check"]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("1 migration(s) newer than this binary: [29990101000001]"),
        "{}",
        text(&check)
    );
    let refused = migrate(&app, &["--to", BEFORE_HISTORY]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("step down with the binary that applied them first"),
        "{}",
        text(&refused)
    );
}

/// PostgreSQL vacuums the throttle's queue of attempts after a fixed count of dead rows
/// (migration 20261208000001), and forgets that setting when stepped below it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attempts_queue_is_vacuumed_by_dead_rows() {
    let Some(d) = Deployment::production() else { return };
    let app = spawn_app(&d).await;
    let options = "SELECT COALESCE(array_to_string(reloptions, ','), '') FROM pg_class WHERE relname = 'login_failures'";
    let set = sql(&app, &[options]).await;
    assert_eq!(set, ["autovacuum_vacuum_scale_factor=0,autovacuum_vacuum_threshold=1000"]);
    let down = migrate(&app, &["--to", "20261207000001"]);
    assert!(down.status.success(), "{}", text(&down));
    assert_eq!(sql(&app, &[options]).await, [""]);
}
