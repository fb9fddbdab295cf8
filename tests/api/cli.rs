//! The `blindvault` binary itself: configuration output, start-up errors, migrations, signals.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::Deployment;

fn blindvault(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blindvault"));
    cmd.args(args).env("BLINDVAULT_LOG_FORMAT", "json");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run blindvault")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn config_prints_settings_with_secrets_redacted() {
    let out = blindvault(
        &["config"],
        &[
            ("BLINDVAULT_DATABASE_URL", "postgres://app:pg-password-123@db.internal:5432/bv"),
            ("BLINDVAULT_JWT_SECRET", "jwt-secret-value-that-is-long-enough-0123"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret-456"),
            ("BLINDVAULT_JWT_PREVIOUS_SECRET", "previous-jwt-secret-value-long-enough-456"),
            ("BLINDVAULT_SECRETS_KEY", "c2VjcmV0cy1rZXktdGhhdC1tdXN0LW5vdC1sZWFrLTA="),
            ("BLINDVAULT_PUBLIC_URL", "https://vault.example.com"),
            ("BLINDVAULT_STORAGE_URL", "s3://vaults/prod"),
            ("BLINDVAULT_ARGON2_M_KIB", "65536"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for secret in
        ["pg-password-123", "jwt-secret-value", "aws-secret-456", "previous-jwt-secret", "c2VjcmV0cy1rZXk"]
    {
        assert!(!stdout.contains(secret), "{secret} leaked:\n{stdout}");
    }
    assert!(stdout.contains("BLINDVAULT_ARGON2_M_KIB=65536\n"), "{stdout}");
    assert!(stdout.contains("BLINDVAULT_STORAGE_URL=s3://vaults/prod\n"));
    assert!(stdout.contains("BLINDVAULT_DATABASE_URL=postgres://app:"));
    assert!(stdout.contains("@db.internal:5432/bv"));
    assert!(stdout.contains("BLINDVAULT_JWT_SECRET=<redacted>\n"));
    assert!(stdout.contains("BLINDVAULT_SECRETS_KEY=<redacted>\n"));
    assert!(stdout.contains("BLINDVAULT_PUBLIC_URL=https://vault.example.com/\n"), "{stdout}");
    assert!(stdout.contains("BLINDVAULT_LISTEN=127.0.0.1:8080\n"));
}

#[test]
fn a_bad_value_stops_start_up_with_one_line_naming_it() {
    let cases: [(&str, &str, &str); 4] = [
        ("BLINDVAULT_ARGON2_M_KIB", "lots", "BLINDVAULT_ARGON2_M_KIB"),
        ("BLINDVAULT_ACCESS_TTL", "soon", "BLINDVAULT_ACCESS_TTL"),
        ("BLINDVAULT_REGISTRATION", "maybe", "BLINDVAULT_REGISTRATION"),
        ("BLINDVAULT_STORAGE_URL", "ftp://x", "BLINDVAULT_STORAGE_URL"),
    ];
    for (name, value, named) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = blindvault(&["serve", "--data-dir", dir.path().to_str().unwrap()], &[(name, value)]);
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(named), "{stderr}");
    }
    // Postgres without a shared JWT secret is refused, and the URL's password is not echoed.
    let out = blindvault(&["serve"], &[("DATABASE_URL", "postgres://u:topsecret@127.0.0.1:1/x")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("BLINDVAULT_JWT_SECRET") && !stderr.contains("topsecret"), "{stderr}");
    // ... and so is Postgres without a shared secrets key, or with one that is not 32 bytes.
    let jwt = ("BLINDVAULT_JWT_SECRET", "jwt-secret-value-that-is-long-enough-0123");
    let db = ("DATABASE_URL", "postgres://u:topsecret@127.0.0.1:1/x");
    for (key, why) in [(None, "required"), (Some("c2hvcnQ="), "32 bytes")] {
        let mut env = vec![db, jwt];
        env.extend(key.map(|k| ("BLINDVAULT_SECRETS_KEY", k)));
        let out = blindvault(&["serve"], &env);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("BLINDVAULT_SECRETS_KEY") && stderr.contains(why), "{stderr}");
        assert!(!stderr.contains("c2hvcnQ"), "the key is not echoed: {stderr}");
    }
}

#[test]
fn help_lists_every_setting_with_its_variable() {
    let out = blindvault(&["serve", "--help"], &[]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for var in [
        "BLINDVAULT_LISTEN",
        "BLINDVAULT_DATA_DIR",
        "BLINDVAULT_DATABASE_URL",
        "BLINDVAULT_STORAGE_URL",
        "BLINDVAULT_JWT_SECRET",
        "BLINDVAULT_SECRETS_KEY",
        "BLINDVAULT_PUBLIC_URL",
        "BLINDVAULT_AUDIT_FOR",
        "BLINDVAULT_ARGON2_CONCURRENCY",
        "BLINDVAULT_TRUSTED_PROXIES",
        "AWS_ENDPOINT_URL",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
}

fn migrate_check(args: &[&str]) -> Output {
    let mut all = vec!["migrate", "--check"];
    all.extend_from_slice(args);
    blindvault(&all, &[])
}

async fn migrations_apply_once_and_check_reports_pending(storage: Vec<String>) {
    let args: Vec<&str> = storage.iter().map(String::as_str).collect();
    let out = migrate_check(&args);
    assert_eq!(out.status.code(), Some(1), "fresh database has pending migrations: {}", text(&out.stderr));
    let files = |engine: &str, suffix: &str| -> Vec<String> {
        let dir = format!("{}/migrations/{engine}", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(suffix).map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    let ups = files("sqlite", ".up.sql");
    assert_eq!(ups, files("postgres", ".up.sql"), "every migration exists for both engines");
    for engine in ["sqlite", "postgres"] {
        assert_eq!(files(engine, ".down.sql"), ups, "every {engine} migration can be reverted");
    }
    let migrations = ups.len();
    assert!(
        text(&out.stdout).contains(&format!("{migrations} migration(s) pending")),
        "{}",
        text(&out.stdout)
    );
    let mut apply = vec!["migrate"];
    apply.extend_from_slice(&args);
    let out = blindvault(&apply, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(migrate_check(&args).status.code(), Some(0));
    // serve --no-migrate now starts (checked by the signal test below for the embedded case).
}

#[tokio::test]
async fn migrate_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    migrations_apply_once_and_check_reports_pending(Deployment::Embedded.fresh_storage(dir.path()).await)
        .await;
}

#[tokio::test]
async fn migrate_on_postgres() {
    let Some(d) = Deployment::production() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    migrations_apply_once_and_check_reports_pending(d.fresh_storage(dir.path()).await).await;
}

#[test]
fn no_migrate_refuses_an_unmigrated_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = blindvault(
        &["serve", "--no-migrate", "--listen", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("blindvault migrate"), "{}", text(&out.stderr));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_blindvault"))
        .args(["serve", "--listen", &listen, "--data-dir", dir.path().to_str().unwrap()])
        .env("BLINDVAULT_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(dir.path().join("blindvault.db").exists());
    let key = dir.path().join("jwt.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let logs = text(&out.stderr);
    assert!(logs.contains("SIGTERM received") && logs.contains("\"stopped\""), "{logs}");
    for line in logs.lines() {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not JSON: {line}");
    }
}
