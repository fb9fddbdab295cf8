//! blindvault: a zero-knowledge encrypted-blob gateway.
//!
//! Clients derive an auth hash and an encryption key from their password; the server keeps
//! only Argon2id(auth hash), ciphertext, IVs and salts. Layers point one way:
//! [`api`] (HTTP) → [`service`] (rules) → [`store`] (Postgres/SQLite + object storage), all
//! speaking the [`domain`]'s types.

pub mod api;
pub mod backup;
pub mod cli;
pub mod config;
pub mod domain;
pub mod key_files;
pub mod private_dir;
pub mod server;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;

/// The client SDK (crate `blindvault-client`), which the CLI is built on.
pub use blindvault_client as client;
pub use config::Settings;
pub use startup::{Application, Migrations};
