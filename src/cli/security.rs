//! `blindvault 2fa | sessions | events`: second factors, the account's sessions, and its audit
//! trail; and the second step of `login`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;

use super::context::{ClientOpts, Session};
use crate::client::{ClientError, SecondFactorAnswer};

/// Second-factor, session and audit subcommands.
#[derive(Debug, Subcommand)]
pub enum SecurityCommand {
    /// Two-factor authentication with an authenticator app (TOTP)
    #[command(name = "2fa")]
    TwoFactor {
        #[command(subcommand)]
        action: TwoFactorAction,
    },
    /// List the account's sessions (devices logged in), or end them
    Sessions {
        #[command(subcommand)]
        action: Option<SessionsAction>,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Show the account's audit trail (logins, factor and session changes), newest first
    Events {
        /// How many
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        opts: ClientOpts,
    },
}

/// `blindvault 2fa ...`.
#[derive(Debug, Subcommand)]
pub enum TwoFactorAction {
    /// Turn TOTP on: shows a secret for the app, asks for its first code, prints recovery codes
    Enable {
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Turn TOTP off (asks for the password)
    Disable {
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Replace the recovery codes with new ones (asks for the password)
    Recovery {
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Show which second factors are on
    Status {
        #[command(flatten)]
        opts: ClientOpts,
    },
}

/// `blindvault sessions end ...`.
#[derive(Debug, Subcommand)]
pub enum SessionsAction {
    /// End one session (by id, from `blindvault sessions`), or every other one with --others
    End {
        /// The session's id
        #[arg(required_unless_present = "others", conflicts_with = "others")]
        id: Option<uuid::Uuid>,
        /// End every session but this one
        #[arg(long)]
        others: bool,
        #[command(flatten)]
        opts: ClientOpts,
    },
}

/// Runs a second-factor, session or audit command.
pub async fn run(command: SecurityCommand) -> anyhow::Result<()> {
    match command {
        SecurityCommand::TwoFactor { action } => two_factor(action).await,
        SecurityCommand::Sessions { action: None, opts } => {
            let session = Session::resume(&opts).await?;
            for s in session.client.sessions().await?.sessions {
                let name = if s.device_name.is_empty() { "(unnamed)" } else { &s.device_name };
                let mark = if s.current { "*" } else { " " };
                println!(
                    "{mark} {}  {:<28} {:<20} last used {}  from {}",
                    s.session_id, name, s.created_at, s.last_used_at, s.address
                );
            }
            session.save(&opts).await
        }
        SecurityCommand::Sessions { action: Some(SessionsAction::End { id, others, opts }), .. } => {
            let session = Session::resume(&opts).await?;
            match (id, others) {
                (_, true) => {
                    eprintln!("ended {} other session(s)", session.client.end_other_sessions().await?)
                }
                (Some(id), false) => {
                    session.client.end_session(id).await.map_err(|e| match e {
                        ClientError::NotFound => anyhow!("no live session {id} of this account"),
                        other => anyhow!(other),
                    })?;
                    eprintln!("ended session {id}");
                }
                (None, false) => bail!("name a session, or pass --others"),
            }
            session.save(&opts).await
        }
        SecurityCommand::Events { limit, opts } => {
            let session = Session::resume(&opts).await?;
            for e in session.client.audit_events(None, limit).await?.items {
                let session_id = e.session_id.map(|s| s.to_string()).unwrap_or_default();
                println!("{}  {:<26} {:<18} {:<36} {}", e.at, e.kind, e.address, session_id, e.detail);
            }
            session.save(&opts).await
        }
    }
}

async fn two_factor(action: TwoFactorAction) -> anyhow::Result<()> {
    match action {
        TwoFactorAction::Enable { opts } => {
            let session = Session::resume(&opts).await?;
            let keys = session.keys(&opts).await?;
            let enrolment = session.client.totp_begin(&keys).await.map_err(|e| match e.code() {
                Some("second_factor_exists") => {
                    anyhow!("TOTP is on already (`blindvault 2fa disable` first)")
                }
                _ => anyhow!(e),
            })?;
            println!("secret: {}", enrolment.secret);
            println!("uri:    {}", enrolment.otpauth_uri);
            let code = read_line("Add it to your authenticator app, then type its code: ")?;
            match session.client.totp_confirm(code.trim()).await? {
                Some(codes) => {
                    println!(
                        "TOTP is on. Recovery codes (each works once; keep them somewhere safe, they are not shown again):"
                    );
                    for code in codes {
                        println!("  {code}");
                    }
                }
                None => println!(
                    "TOTP is on. Your recovery codes stay the ones you have (`blindvault 2fa recovery` makes new ones)."
                ),
            }
            eprintln!("your other sessions have ended");
            session.save(&opts).await
        }
        TwoFactorAction::Disable { opts } => {
            let session = Session::resume(&opts).await?;
            let keys = session.keys(&opts).await?;
            session.client.totp_remove(&keys).await.map_err(|e| match e {
                ClientError::NotFound => anyhow!("TOTP is not on"),
                other => anyhow!(other),
            })?;
            eprintln!("TOTP is off; your other sessions have ended");
            session.save(&opts).await
        }
        TwoFactorAction::Recovery { opts } => {
            let session = Session::resume(&opts).await?;
            let keys = session.keys(&opts).await?;
            let codes = session.client.recovery_codes_renew(&keys).await.map_err(|e| match e {
                ClientError::NotFound => anyhow!("no second factor is on"),
                other => anyhow!(other),
            })?;
            println!("New recovery codes (the old ones no longer work):");
            for code in codes {
                println!("  {code}");
            }
            session.save(&opts).await
        }
        TwoFactorAction::Status { opts } => {
            let session = Session::resume(&opts).await?;
            let f = session.client.factors().await?;
            println!(
                "totp: {}",
                if f.totp {
                    "on"
                } else if f.totp_pending {
                    "waiting for its first code"
                } else {
                    "off"
                }
            );
            println!("webauthn: {} authenticator(s)", f.webauthn.len());
            for key in f.webauthn {
                println!("  {}  {}", key.id, key.name);
            }
            println!("recovery codes left: {}", f.recovery_codes_left);
            session.save(&opts).await
        }
    }
}

/// The answer to a login's challenge: `BLINDVAULT_TOTP` (for scripts), else a prompt. Six
/// digits are a TOTP code; anything else a recovery code.
pub(super) fn second_factor(opts: &ClientOpts, factors: &[String]) -> anyhow::Result<SecondFactorAnswer> {
    let text = match &opts.totp {
        Some(code) => code.clone(),
        None => {
            if !factors.iter().any(|f| f == "totp" || f == "recovery_code") {
                bail!("this account's second factor is a security key: log in with the web page");
            }
            read_line("Code from your authenticator app (or a recovery code): ")?
        }
    };
    let text = text.trim().to_owned();
    Ok(match text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()) {
        true => SecondFactorAnswer::Totp(text),
        false => SecondFactorAnswer::RecoveryCode(text),
    })
}

fn read_line(prompt: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        eprint!("{prompt}");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the code")?;
    if line.trim().is_empty() {
        bail!("no code given (set BLINDVAULT_TOTP for scripts)");
    }
    Ok(line)
}
