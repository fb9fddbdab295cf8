//! The proof that the server is blind: after the CLI stores and reads back a canary, nothing
//! the server holds or says (database, objects, debug logs) contains the canary, the password,
//! K_enc or the auth hash, in any common encoding; nor the TOTP secret or a recovery code,
//! which the server does see once (it keeps the one sealed, the others hashed).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use futures::TryStreamExt;
use hkdf::Hkdf;
use serde_json::{Value, json};
use sha2::Sha256;

use blindvault::Settings;
use blindvault::store::BlobStore;

use crate::helpers::{Deployment, on_both_deployments, rand_bytes};
use crate::process::{Cli, Server};

on_both_deployments!(the_server_learns_nothing);

/// Every encoding of `bytes` a careless server might log or store.
fn encodings(name: &str, bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        (format!("{name} (raw)"), bytes.to_vec()),
        (format!("{name} (hex)"), hex.clone().into_bytes()),
        (format!("{name} (HEX)"), hex.to_uppercase().into_bytes()),
        (format!("{name} (base64)"), STANDARD_NO_PAD.encode(bytes).into_bytes()),
        (format!("{name} (base64url)"), URL_SAFE_NO_PAD.encode(bytes).into_bytes()),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn files_under(dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
}

async fn the_server_learns_nothing(d: Deployment) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&d, dir.path(), "debug").await;
    let cli = Cli::new(&server.url, dir.path(), "laptop");
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (username, password, canary) =
        (format!("blind-{}", &tag[..8]), format!("pw-{tag}"), format!("CANARY-{tag}"));

    cli.ok(&password, &["register", &username]);
    let small = dir.path().join("notes.txt");
    std::fs::write(&small, format!("my secret notes: {canary}\n")).unwrap();
    let mut large_bytes = canary.as_bytes().to_vec();
    large_bytes.extend(rand_bytes(24 * 1024 * 1024));
    large_bytes.extend_from_slice(canary.as_bytes());
    let large = dir.path().join("large.bin");
    std::fs::write(&large, &large_bytes).unwrap();
    cli.ok(&password, &["put", small.to_str().unwrap()]);
    cli.ok(&password, &["put", large.to_str().unwrap(), "--vault", "large"]);
    assert_eq!(cli.ok(&password, &["get", "notes.txt"]), std::fs::read(&small).unwrap());
    let back = dir.path().join("back.bin");
    cli.ok(&password, &["get", "large", "-o", back.to_str().unwrap()]);
    assert!(std::fs::read(&back).unwrap() == large_bytes, "large file round-trips byte for byte");
    // History, a restore (with its receipt), the trash and a rename (with its receipt).
    std::fs::write(&small, format!("second revision: {canary}\n")).unwrap();
    cli.ok(&password, &["put", small.to_str().unwrap()]);
    cli.ok(&password, &["restore", "notes.txt", "1"]);
    assert!(
        cli.ok(&password, &["get", "notes.txt", "--revision", "2"])
            .ends_with(format!("{canary}\n").as_bytes())
    );
    cli.ok(&password, &["rm", "large"]);
    cli.ok(&password, &["untrash", "large", "--as", "large-again"]);
    // A second factor: its secret is the one the server must read, so it must be sealed at rest.
    let (totp_secret, recovery) = crate::cli_security::enable_totp(&cli, &password);
    let other = Cli::new(&server.url, dir.path(), "phone");
    let totp = crate::second_factors::code(&totp_secret, 30);
    let login = other
        .run_with(&[("BLINDVAULT_PASSWORD", &password), ("BLINDVAULT_TOTP", &totp)], &["login", &username]);
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));

    // The client's secrets, derived here independently of the client's code.
    let http = reqwest::Client::new();
    let kdf: Value = http
        .post(format!("{}/api/v1/auth/prelogin", server.url))
        .json(&json!({"username": username}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let salt = STANDARD.decode(kdf["salt"].as_str().unwrap()).unwrap();
    let mut master = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(format!("{username}\0{password}").as_bytes(), &salt, 600_000, &mut master);
    let (mut auth_hash, mut k_enc) = ([0u8; 32], [0u8; 32]);
    Hkdf::<Sha256>::new(None, &master).expand(b"blindvault/v1 auth", &mut auth_hash).unwrap();
    Hkdf::<Sha256>::new(None, &master).expand(b"blindvault/v1 enc", &mut k_enc).unwrap();
    let session: Value =
        serde_json::from_slice(&std::fs::read(cli.config.join("session.json")).unwrap()).unwrap();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();

    let mut needles = vec![
        ("canary".to_owned(), canary.clone().into_bytes()),
        ("password".to_owned(), password.clone().into_bytes()),
    ];
    needles.extend(encodings("K_enc", &k_enc));
    let mut k_receipt = [0u8; 32];
    Hkdf::<Sha256>::new(None, &k_enc).expand(b"blindvault/v1 receipt", &mut k_receipt).unwrap();
    needles.extend(encodings("K_receipt", &k_receipt));
    needles.extend(encodings("master key", &master));
    needles.extend(encodings("auth_hash", &auth_hash));
    needles.push(("refresh token".to_owned(), refresh.into_bytes()));
    needles.push(("TOTP secret (base32)".to_owned(), totp_secret.clone().into_bytes()));
    needles.extend(encodings("TOTP secret", &blindvault::service::totp_base32_decode(&totp_secret).unwrap()));
    for code in &recovery {
        needles.push(("a recovery code".to_owned(), code.clone().into_bytes()));
    }

    // Everything the server holds or says.
    assert!(server.stop().success(), "the server stops cleanly, with its WAL and logs on disk");
    let mut haystacks: Vec<(String, Vec<u8>)> =
        vec![("server log".into(), std::fs::read(&server.log).unwrap())];
    let settings = Settings::from_args(&server.args).unwrap();
    match &d {
        Deployment::Embedded => {
            files_under(&dir.path().join("objects"), &mut haystacks);
            for name in ["blindvault.db", "blindvault.db-wal", "blindvault.db-shm"] {
                if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
                    haystacks.push((name.into(), bytes));
                }
            }
        }
        Deployment::Production { .. } => {
            let url = server.arg("--database-url").unwrap();
            let dump = std::process::Command::new("pg_dump").arg(url).output().expect("pg_dump runs");
            assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
            haystacks.push(("pg_dump".into(), dump.stdout));
            let blobs = BlobStore::open(&settings.storage().unwrap()).unwrap();
            for key in blobs.list("").await.unwrap() {
                let parts: Vec<bytes::Bytes> =
                    blobs.get(&key, None).await.unwrap().body.try_collect().await.unwrap();
                haystacks.push((key, parts.concat()));
            }
        }
    }
    // Bodies kept in the database are in its files or dump already; each is also scanned on
    // its own, so that every revision is seen to be scanned.
    let stores = blindvault::startup::open_store(&settings).await.unwrap();
    for (key, body) in stores.vaults.small_objects_after("", 1000).await.unwrap() {
        haystacks.push((key, body.to_vec()));
    }
    let objects = haystacks.iter().filter(|(name, _)| name.contains("vaults/")).count();
    // notes.txt's three revisions (the restore a copy of the first) and the large vault.
    assert_eq!(
        objects,
        4,
        "every revision of both vaults was scanned: {:?}",
        haystacks.iter().map(|h| &h.0).collect::<Vec<_>>()
    );
    let log = String::from_utf8_lossy(&haystacks[0].1).into_owned();
    assert!(
        log.contains("DEBUG") && log.contains("/api/v1/vault/{vault_id}/content"),
        "debug logs were captured"
    );
    let db: Vec<u8> = haystacks
        .iter()
        .filter(|(n, _)| n == "pg_dump" || n.starts_with("blindvault.db"))
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert!(contains(&db, b"$argon2id$v=19$"), "the stored credential is an Argon2id PHC string");

    for (what, needle) in &needles {
        for (place, haystack) in &haystacks {
            assert!(!contains(haystack, needle), "{what} found in {place}");
        }
    }
}
