//! The CLI as a user drives it, from two machines against one server.

use std::os::unix::fs::PermissionsExt;

use blindvault::client::crypto::Keys;
use blindvault::client::{Client, Precondition};

use crate::helpers::{Deployment, on_both_deployments, spawn_app};
use crate::process::Cli;

on_both_deployments!(
    two_machines_share_vaults_and_conflicts_change_nothing,
    an_interrupted_passwd_loses_nothing
);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn two_machines_share_vaults_and_conflicts_change_nothing(d: Deployment) {
    let app = spawn_app(&d).await;
    let dir = tempfile::tempdir().unwrap();
    let (laptop, phone) =
        (Cli::new(&app.address, dir.path(), "laptop"), Cli::new(&app.address, dir.path(), "phone"));
    let pw = "laptop and phone";
    laptop.ok(pw, &["register", "Carol"]);
    let session = laptop.config.join("session.json");
    assert_eq!(std::fs::metadata(&session).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!text(&std::fs::read(&session).unwrap()).contains(pw), "the password is never saved");
    assert!(text(&laptop.ok(pw, &["whoami"])).starts_with("carol ("));

    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "version one").unwrap();
    laptop.ok(pw, &["put", notes.to_str().unwrap()]);
    phone.ok(pw, &["login", "carol"]);
    assert_eq!(phone.ok(pw, &["get", "notes.txt"]), b"version one");
    std::fs::write(&notes, "phone's version").unwrap();
    phone.ok(pw, &["put", notes.to_str().unwrap()]);

    // The laptop last saw revision 1: its put is refused in one plain line, and changes nothing.
    std::fs::write(&notes, "laptop's version").unwrap();
    let out = laptop.run(pw, &["put", notes.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("changed on the server") && stderr.contains("nothing was changed"), "{stderr}");
    let out = laptop.run(pw, &["rm", "notes.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(phone.ok(pw, &["get", "notes.txt"]), b"phone's version");

    // A machine that never saw a vault does not overwrite it unless told to.
    let fresh = Cli::new(&app.address, dir.path(), "desktop");
    fresh.ok(pw, &["login", "carol"]);
    let out = fresh.run(pw, &["put", notes.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("--force"), "{}", text(&out.stderr));
    fresh.ok(pw, &["put", notes.to_str().unwrap(), "--force"]);
    assert_eq!(phone.ok(pw, &["get", "notes.txt"]), b"laptop's version");

    // stdin to stdout, listing, removal, and a wrong password.
    let listing = text(&laptop.ok(pw, &["ls"]));
    assert!(listing.contains("notes.txt"), "{listing}");
    let out = laptop.run("wrong password", &["get", "notes.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("wrong password"), "{}", text(&out.stderr));
    laptop.ok(pw, &["get", "notes.txt"]);
    laptop.ok(pw, &["rm", "notes.txt"]);
    assert_eq!(laptop.run(pw, &["get", "notes.txt"]).status.code(), Some(1));
    assert_eq!(laptop.run(pw, &["frobnicate"]).status.code(), Some(2));
    laptop.ok(pw, &["logout"]);
    assert!(!session.exists());
    assert!(text(&laptop.run(pw, &["ls"]).stderr).contains("not logged in"));
}

async fn an_interrupted_passwd_loses_nothing(d: Deployment) {
    let app = spawn_app(&d).await;
    let dir = tempfile::tempdir().unwrap();
    let laptop = Cli::new(&app.address, dir.path(), "laptop");
    let phone = Cli::new(&app.address, dir.path(), "phone");
    let (old_pw, new_pw) = ("old password", "new password");
    laptop.ok(old_pw, &["register", "dave"]);
    phone.ok(old_pw, &["login", "dave"]);
    let mut contents = Vec::new();
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        let file = dir.path().join(id);
        let body = format!("vault {id} {}", "x".repeat(i * 100_000));
        std::fs::write(&file, &body).unwrap();
        laptop.ok(old_pw, &["put", file.to_str().unwrap()]);
        contents.push((*id, body));
    }

    // A first `passwd` run got as far as vault "b" and stopped: that vault is under the new key.
    let client = Client::new(&app.address).unwrap();
    let (old, _) = client.login("dave", old_pw, &[]).await.unwrap();
    let new = Keys::derive("dave", new_pw, &old.next_kdf_salt(), 600_000);
    let mut plain = Vec::new();
    let got = client.get_stream(&old, "b", &mut plain, |_, _| {}).await.unwrap();
    client.put_stream(&new, "b", std::io::Cursor::new(plain), &Precondition::Etag(got.etag)).await.unwrap();
    let out = laptop.run(old_pw, &["get", "b"]);
    assert!(text(&out.stderr).contains("unfinished `blindvault passwd`"), "{}", text(&out.stderr));

    // Running it again finishes the job.
    let out =
        laptop.run_with(&[("BLINDVAULT_PASSWORD", old_pw), ("BLINDVAULT_NEW_PASSWORD", new_pw)], &["passwd"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("2 vault(s) re-encrypted"), "{}", text(&out.stderr));
    for (id, body) in &contents {
        assert_eq!(text(&laptop.ok(new_pw, &["get", id])), *body, "vault {id}");
    }
    let out = phone.run(new_pw, &["ls"]);
    assert!(text(&out.stderr).contains("session has ended"), "{}", text(&out.stderr));
    // The phone pinned the old KDF salt: the change is refused until the user says it was theirs.
    let out = phone.run(new_pw, &["login", "dave"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("weaken the key derivation"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--trust-new-kdf"), "{}", text(&out.stderr));
    let out = phone.run(old_pw, &["login", "dave", "--trust-new-kdf"]);
    assert!(text(&out.stderr).contains("wrong username or password"));
    phone.ok(new_pw, &["login", "dave", "--trust-new-kdf"]);
    phone.ok(new_pw, &["login", "dave"]);
    assert_eq!(text(&phone.ok(new_pw, &["get", "c"])), contents[2].1);
}
