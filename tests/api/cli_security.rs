//! Second factors and sessions through the CLI, from two machines, on both deployments:
//! `2fa enable` reads the app's code, `login` takes a code (and refuses it twice), a recovery
//! code ends the other machine's session, `sessions end --others`, `events`, `2fa disable`.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use crate::helpers::{Deployment, on_both_deployments};
use crate::process::{Cli, Server};
use crate::second_factors::code;

on_both_deployments!(two_machines_with_a_second_factor);

const PW: &str = "a password and a phone";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `blindvault 2fa enable` as a person does it: reads the secret it prints, types the code
/// the app would show. The secret and the recovery codes.
pub fn enable_totp(cli: &Cli, password: &str) -> (String, Vec<String>) {
    let mut child = cli
        .command(&[("BLINDVAULT_PASSWORD", password)], &["2fa", "enable"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("2fa enable starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let secret = lines.next().unwrap().unwrap().strip_prefix("secret: ").expect("secret line").to_owned();
    let uri = lines.next().unwrap().unwrap();
    assert!(uri.starts_with("uri:    otpauth://totp/") && uri.contains(&secret), "{uri}");
    writeln!(child.stdin.take().unwrap(), "{}", code(&secret, 0)).unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "2fa enable: {rest:?}");
    assert!(rest[0].starts_with("TOTP is on"), "{rest:?}");
    let codes: Vec<String> = rest[1..].iter().map(|l| l.trim().to_owned()).collect();
    assert_eq!(codes.len(), 10, "{rest:?}");
    (secret, codes)
}

async fn two_machines_with_a_second_factor(d: Deployment) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&d, dir.path(), "info").await;
    let laptop = Cli::new(&server.url, dir.path(), "laptop");
    let phone = Cli::new(&server.url, dir.path(), "phone");
    let user = format!("alice-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let named = |name: &'static str| [("BLINDVAULT_PASSWORD", PW), ("BLINDVAULT_DEVICE_NAME", name)];
    assert!(laptop.run_with(&named("laptop"), &["register", &user]).status.success());
    let (secret, codes) = enable_totp(&laptop, PW);
    let status = text(&laptop.ok(PW, &["2fa", "status"]));
    assert!(status.contains("totp: on") && status.contains("recovery codes left: 10"), "{status}");

    let refused = phone.run(PW, &["login", &user]);
    assert!(!refused.status.success(), "no code, no session");
    let next = code(&secret, 30);
    let with = |name: &'static str, totp: &str| {
        phone.run_with(
            &[("BLINDVAULT_PASSWORD", PW), ("BLINDVAULT_DEVICE_NAME", name), ("BLINDVAULT_TOTP", totp)],
            &["login", &user],
        )
    };
    let ok = with("phone", &next);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let replay = with("phone", &next);
    assert!(text(&replay.stderr).contains("wrong code, or a code used before"), "{}", text(&replay.stderr));
    // A code of a step no later than the one just used, whenever this runs (a step boundary may
    // pass between the two logins: the code of "30 s ahead" computed now may be a new step).
    let earlier = with("phone", &code(&secret, 0));
    assert!(!earlier.status.success(), "a code of the step used, or of an earlier one");

    let listed = text(&laptop.ok(PW, &["sessions"]));
    assert!(listed.contains("laptop") && listed.contains("phone"), "{listed}");
    let mine = listed.lines().find(|l| l.starts_with('*')).expect("the current session is marked");
    assert!(mine.contains("laptop"), "{listed}");
    laptop.ok(PW, &["sessions", "end", "--others"]);
    let ended = phone.run(PW, &["whoami"]);
    assert!(text(&ended.stderr).contains("the session has ended"), "{}", text(&ended.stderr));

    let recovered = with("phone", &codes[0]);
    assert!(recovered.status.success(), "{}", text(&recovered.stderr));
    let gone = laptop.run(PW, &["whoami"]);
    assert!(!gone.status.success(), "a recovery code ends every other session");
    let events = text(&phone.ok(PW, &["events"]));
    for kind in ["recovery_code_used", "other_sessions_ended", "totp_enabled", "login_succeeded"] {
        assert!(events.contains(kind), "{kind}: {events}");
    }
    assert!(!events.contains(&secret) && !events.contains(&codes[0]), "{events}");
    let status = text(&phone.ok(PW, &["2fa", "status"]));
    assert!(status.contains("recovery codes left: 9"), "{status}");
    phone.ok(PW, &["2fa", "disable"]);
    assert!(laptop.run(PW, &["login", &user]).status.success(), "no code needed any more");

    // The same events went to the operator's log pipeline, as structured lines.
    let log = std::fs::read_to_string(&server.log).unwrap();
    let logged: Vec<String> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["target"] == "blindvault::audit" && line["user_id"].is_string())
        .filter_map(|line| line["event"].as_str().map(str::to_owned))
        .collect();
    for kind in ["totp_enabled", "recovery_code_used", "totp_disabled", "other_sessions_ended"] {
        assert!(logged.iter().any(|e| e == kind), "{kind} not logged: {logged:?}");
    }
    assert!(!log.contains(&secret) && !log.contains(&codes[0]), "a secret in the log");
}
