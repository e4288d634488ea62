//! The orgusers server: the composition root.
//!
//! `main` parses the command line, opens the store, wires the adapters into
//! an [`app::Service`] and serves [`http_api::router`]. It decides nothing
//! itself. The database URL's scheme picks the store: `postgres://` (or
//! `postgresql://`) runs on [`PostgresStore`], anything else on
//! [`SqliteStore`].

mod bootstrap;
mod cli;
mod system;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use app::{Ports, Service};
use auth_token::JwtTokens;
use clap::Parser;
use domain::RelyingParty;
use http_api::ApiOptions;
use ports::{SecretStore, StoreError};
use signature::KeyVerifier;
use store_postgres::PostgresStore;
use store_sqlite::SqliteStore;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, OrgCommand};
use crate::system::{SystemClock, SystemRandom};

/// The adapters of a server whose stores are all one `Store`.
trait ServerPorts:
    Ports<
        Users = Self::Store,
        Permissions = Self::Store,
        OneTime = Self::Store,
        Verifier = KeyVerifier,
        Tokens = JwtTokens,
        Clock = SystemClock,
        Random = SystemRandom,
    >
{
    /// The store of every store port.
    type Store: SecretStore + Clone;

    /// Opens the store at `url` and brings its schema up to date.
    async fn connect(url: &str) -> Result<Self::Store, StoreError>;
}

/// The adapters of a server on a SQLite file.
struct SqlitePorts;

impl Ports for SqlitePorts {
    type Users = SqliteStore;
    type Permissions = SqliteStore;
    type OneTime = SqliteStore;
    type Verifier = KeyVerifier;
    type Tokens = JwtTokens;
    type Clock = SystemClock;
    type Random = SystemRandom;
}

impl ServerPorts for SqlitePorts {
    type Store = SqliteStore;

    async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        SqliteStore::connect(url).await
    }
}

/// The adapters of a server on a PostgreSQL database.
struct PostgresPorts;

impl Ports for PostgresPorts {
    type Users = PostgresStore;
    type Permissions = PostgresStore;
    type OneTime = PostgresStore;
    type Verifier = KeyVerifier;
    type Tokens = JwtTokens;
    type Clock = SystemClock;
    type Random = SystemRandom;
}

impl ServerPorts for PostgresPorts {
    type Store = PostgresStore;

    async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect(url).await
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal, plain text for a log file.
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let command = Cli::parse().command;
    let database = match &command {
        Command::Serve(args) => args.database_url(),
        Command::Org { command: OrgCommand::Create(args) } => args.database.clone(),
    };
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        run::<PostgresPorts>(command, &database).await
    } else {
        run::<SqlitePorts>(command, &database).await
    }
}

async fn run<P: ServerPorts>(command: Command, database: &str) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::<P>(args, database).await,
        Command::Org { command: OrgCommand::Create(args) } => {
            let service = open::<P>(database).await?;
            bootstrap::create_org(&service, &args.name, &args.admin_email, &args.out).await
        }
    }
}

async fn open<P: ServerPorts>(database: &str) -> anyhow::Result<Service<P>> {
    let store = P::connect(database)
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

async fn serve<P: ServerPorts>(args: cli::ServeArgs, database: &str) -> anyhow::Result<()> {
    let relying_party = RelyingParty::new(&args.rp_id, &args.rp_name)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let service = open::<P>(database).await?.with_relying_party(relying_party);
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
