//! The integration suite: the real router over HTTP, on both deployments.

mod account;
mod attacks;
mod blindness;
mod blobs;
mod cli;
mod cli_client;
mod credentials;
mod database_faults;
mod errors;
mod faults;
mod health;
mod helpers;
mod history;
mod lifecycle;
mod login;
mod memory;
mod metrics;
mod openapi;
mod process;
mod register;
mod replicas;
mod sdk;
mod throttle;
mod tokens;
mod vaults_json;
mod vaults_stream;
