//! The `blindvault` command line: the server's commands here, the client's in `client.rs`.

mod admin;
mod client;
mod context;
mod get;
mod history;
mod passwd;
mod resume;
mod security;
mod session;

use std::process::ExitCode;
use std::sync::Arc;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, Subcommand};

use crate::backup;
use crate::config::Settings;
use crate::startup::{Application, Migrations, open_store};
use crate::store::StoreError;
use crate::telemetry;

/// blindvault: a zero-knowledge encrypted-blob gateway. Clients encrypt; the server stores
/// ciphertext and Argon2id(auth hash), and can read neither the data nor the passwords.
#[derive(Debug, Parser)]
#[command(name = "blindvault", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: apply pending migrations, then serve until SIGTERM or SIGINT
    Serve {
        /// Do not apply migrations; refuse to start if any are pending
        #[arg(long)]
        no_migrate: bool,
        /// Apply migrations without the backup taken first (loudly; take your own)
        #[arg(long)]
        no_backup: bool,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Apply pending database migrations and exit (or step to a version, up or down)
    Migrate {
        /// Apply nothing; exit 1 if any migration is pending
        #[arg(long, conflicts_with = "to")]
        check: bool,
        /// Bring the schema to exactly this version: apply up to it, or revert the migrations
        /// after it with their down scripts (which drop what those added: see OPERATIONS.md)
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
        /// Migrate without the backup taken first (loudly; take your own)
        #[arg(long)]
        no_backup: bool,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Snapshot the metadata database now, while it serves (SQLite: VACUUM INTO; Postgres: one
    /// REPEATABLE READ transaction, no pg_dump needed) into the object store under backups/ (or
    /// BLINDVAULT_BACKUP_DIR); prints its name
    Backup {
        /// List the backups kept instead, oldest first
        #[arg(long)]
        list: bool,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Restore a backup (a name from `backup --list`, or a file) into the configured database,
    /// which must be empty; then `migrate` brings it to this binary's schema. (`restore` alone
    /// is the client's: an earlier revision of a vault)
    RestoreBackup {
        /// The backup's name or path
        backup: String,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Print the effective configuration (secrets redacted) and exit
    Config {
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// The operator's commands, against the configured database: invites, accounts, quotas
    Admin {
        #[command(subcommand)]
        command: Box<admin::AdminCommand>,
    },
    #[command(flatten)]
    Client(Box<client::ClientCommand>),
}

/// Parses the command line and runs the command; the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_error(err),
    };
    let settings = match &cli.command {
        Command::Serve { settings, .. }
        | Command::Migrate { settings, .. }
        | Command::Backup { settings, .. }
        | Command::RestoreBackup { settings, .. }
        | Command::Config { settings } => Some(&**settings),
        Command::Admin { command } => Some(command.settings()),
        Command::Client(_) => None,
    };
    if let Some(Err(err)) = settings.map(|s| s.validate()) {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "exiting");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { no_migrate, no_backup, settings } => {
            telemetry::init(settings.log_format());
            let migrations = match (no_migrate, no_backup) {
                (true, _) => Migrations::Require,
                (false, true) => Migrations::ApplyWithoutBackup,
                (false, false) => Migrations::Apply,
            };
            let app = Application::build(*settings, migrations).await?;
            tracing::info!(port = app.port(), version = env!("CARGO_PKG_VERSION"), "blindvault listening");
            app.run_until_stopped(shutdown_signal()).await?;
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { check, to, no_backup, settings } => {
            telemetry::init(settings.log_format());
            let stores = open_store(&settings).await?;
            let store = Arc::clone(&stores.meta);
            let newer = store.unknown_migrations().await?;
            if !newer.is_empty() {
                println!("{} migration(s) newer than this binary: {newer:?}", newer.len());
            }
            if let Some(version) = to {
                if store.schema_version().await?.is_some_and(|v| v != version) {
                    if no_backup {
                        tracing::warn!("STEPPING THE SCHEMA WITHOUT A BACKUP (--no-backup)");
                    } else {
                        println!("backup {}", backup::take(&settings, &*store, "before-migrate").await?);
                    }
                }
                if version < backup::SMALL_OBJECTS_VERSION
                    && store.schema_version().await?.is_some_and(|v| v >= backup::SMALL_OBJECTS_VERSION)
                {
                    let moved = backup::move_small_objects_out(&settings, &*stores.vaults).await?;
                    println!("moved {moved} small bodies from the database to the object store");
                }
                store.migrate_to(version).await.map_err(|e| match e {
                    StoreError::Conflict("migration version") => {
                        anyhow::anyhow!("{version} is not a migration this binary ships (see `migrate --check`)")
                    }
                    StoreError::Conflict(_) => anyhow::anyhow!(
                        "the database has migrations newer than this binary ({newer:?}): step down with the binary \
                         that applied them first"
                    ),
                    other => other.into(),
                })?;
                println!("the schema is at {version}");
                return Ok(ExitCode::SUCCESS);
            }
            let pending = store.pending_migrations().await?;
            if check {
                for version in &pending {
                    println!("pending {version}");
                }
                println!("{} migration(s) pending", pending.len());
                return Ok(if pending.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
            }
            crate::startup::backup_before_migrating(&settings, &*store, !no_backup).await?;
            store.migrate().await?;
            println!("applied {} migration(s)", pending.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin { command } => {
            admin::run(*command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Client(command) => {
            client::run(*command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { list, settings } => {
            telemetry::init(settings.log_format());
            if list {
                for name in backup::list(&settings).await? {
                    println!("{name}");
                }
            } else {
                let store = open_store(&settings).await?.meta;
                println!("{}", backup::take(&settings, &*store, "manual").await?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::RestoreBackup { backup: name, settings } => {
            telemetry::init(settings.log_format());
            let store = open_store(&settings).await?.meta;
            backup::restore(&settings, &*store, &name).await?;
            println!(
                "restored {name}; run `blindvault migrate` (or serve) to bring it to this binary's schema"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { settings } => {
            for (name, value) in settings.effective() {
                println!("{name}={value}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

/// Help and version go to stdout as usual; a bad value becomes one line naming the
/// setting by its flag and its environment variable.
fn clap_error(err: clap::Error) -> ExitCode {
    if !matches!(err.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        let _ = err.print();
        return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
    }
    let flag = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.split(' ').next().unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    let env = env_of(&flag).map(|e| format!(" ({e})")).unwrap_or_default();
    let reason = match (std::error::Error::source(&err), err.get(ContextKind::ValidValue)) {
        (Some(source), _) => source.to_string(),
        (None, Some(ContextValue::Strings(valid))) => {
            format!("expected one of: {}", valid.join(", "))
        }
        _ => "not a valid value".into(),
    };
    eprintln!("error: invalid {flag}{env}: {reason}");
    ExitCode::from(2)
}

fn env_of(flag: &str) -> Option<String> {
    let long = flag.strip_prefix("--")?;
    let command = Cli::command();
    command
        .get_subcommands()
        .flat_map(|sub| sub.get_arguments())
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
}
