//! The `blindvault` command line: the server's commands here, the client's in `client.rs`.

mod client;
mod context;
mod get;
mod history;
mod passwd;
mod resume;
mod session;

use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, Subcommand};

use crate::config::Settings;
use crate::startup::{Application, Migrations, open_store};
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
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Apply pending database migrations and exit
    Migrate {
        /// Apply nothing; exit 1 if any migration is pending
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Print the effective configuration (secrets redacted) and exit
    Config {
        #[command(flatten)]
        settings: Box<Settings>,
    },
    #[command(flatten)]
    Client(client::ClientCommand),
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
        | Command::Config { settings } => Some(settings),
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
        Command::Serve { no_migrate, settings } => {
            telemetry::init(settings.log_format());
            let migrations = if no_migrate { Migrations::Require } else { Migrations::Apply };
            let app = Application::build(*settings, migrations).await?;
            tracing::info!(port = app.port(), version = env!("CARGO_PKG_VERSION"), "blindvault listening");
            app.run_until_stopped(shutdown_signal()).await?;
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { check, settings } => {
            telemetry::init(settings.log_format());
            let store = open_store(&settings).await?.meta;
            let pending = store.pending_migrations().await?;
            if check {
                for version in &pending {
                    println!("pending {version}");
                }
                println!("{} migration(s) pending", pending.len());
                return Ok(if pending.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
            }
            store.migrate().await?;
            println!("applied {} migration(s)", pending.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Client(command) => {
            client::run(command).await?;
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
