//! The orgusers server: the composition root.
//!
//! `main` parses the command line, opens the store, wires the adapters into
//! an [`app::Service`] and serves [`http_api::router`]. It decides nothing
//! itself.

mod bootstrap;
mod cli;
mod system;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use app::{Ports, Service};
use auth_token::JwtTokens;
use clap::Parser;
use http_api::ApiOptions;
use ports::SecretStore;
use signature::KeyVerifier;
use store_sqlite::SqliteStore;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, OrgCommand};
use crate::system::{SystemClock, SystemRandom};

/// The adapters the server runs on.
struct Production;

impl Ports for Production {
    type Users = SqliteStore;
    type Permissions = SqliteStore;
    type OneTime = SqliteStore;
    type Verifier = KeyVerifier;
    type Tokens = JwtTokens;
    type Clock = SystemClock;
    type Random = SystemRandom;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();

    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Org { command: OrgCommand::Create(args) } => {
            let service = open(&args.database).await?;
            bootstrap::create_org(&service, &args.name, &args.admin_email, &args.out).await
        }
    }
}

async fn open(database: &str) -> anyhow::Result<Service<Production>> {
    let store = SqliteStore::connect(database)
        .await
        .with_context(|| format!("cannot open the database {database}"))?;
    // Every instance on one database must sign and check tokens with one
    // key: the first instance stores it, the others read it.
    let candidate = auth_token::generate_signing_key();
    let signing_key = store.token_signing_key(&candidate).await?;
    let tokens = JwtTokens::from_pkcs8(&signing_key).context("the stored signing key")?;
    Ok(Service::new(
        store.clone(),
        store.clone(),
        store,
        KeyVerifier::new(),
        tokens,
        SystemClock,
        SystemRandom,
    ))
}

async fn serve(args: cli::ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let service = open(&args.database_url()).await?;
    bootstrap::first_org_if_empty(&service, &args.admin_email, &args.data_dir).await?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address: SocketAddr = listener.local_addr()?;
    tracing::info!(%address, "serving");
    announce(address);

    let options = ApiOptions { require_nonce: args.require_nonce };
    let router = http_api::router(Arc::new(service), options);
    axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

/// Tells whoever started the server where it listens: one line on standard
/// output, the only thing the server writes there. Logs go to standard
/// error.
#[allow(clippy::print_stdout, reason = "the listening line is the server's output")]
fn announce(address: SocketAddr) {
    println!("orgusers listening on http://{address}");
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
