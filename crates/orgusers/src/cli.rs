//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The SQLite file a server keeps in its data directory by default.
pub(crate) const DEFAULT_DATABASE_FILE: &str = "orgusers.sqlite3";

/// The default email of an org's first admin.
const DEFAULT_ADMIN_EMAIL: &str = "admin@orgusers.localhost";

/// An org's users, their lifecycle and signed user actions, over HTTP.
#[derive(Debug, Parser)]
#[command(name = "orgusers", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the API. On an empty database, first create an org and its
    /// first admin, and write the admin's key and login details.
    Serve(ServeArgs),
    /// Manage orgs.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// The directory for the SQLite file and the first admin's key and
    /// login details; created when missing.
    #[arg(long, default_value = ".")]
    pub(crate) data_dir: PathBuf,
    /// The database URL: `sqlite://PATH` (created when missing), or
    /// `postgres://...` for servers that share one database. Defaults to
    /// `orgusers.sqlite3` in the data directory.
    #[arg(long, env = "ORGUSERS_DATABASE")]
    pub(crate) database: Option<String>,
    /// The email of the first admin, when the database is empty.
    #[arg(long, default_value = DEFAULT_ADMIN_EMAIL)]
    pub(crate) admin_email: String,
    /// Refuse every authenticated request without an `X-DFNS-NONCE`
    /// header. Without this flag a nonce is checked only when one is sent.
    #[arg(long, env = "ORGUSERS_REQUIRE_NONCE")]
    pub(crate) require_nonce: bool,
    /// The relying party id of `Fido2` credentials: the domain of the
    /// pages that register and use them (a lowercase domain name).
    #[arg(long, env = "ORGUSERS_RP_ID", default_value = app::DEFAULT_RELYING_PARTY_ID)]
    pub(crate) rp_id: String,
    /// The relying party name authenticators show.
    #[arg(long, env = "ORGUSERS_RP_NAME", default_value = app::DEFAULT_RELYING_PARTY_NAME)]
    pub(crate) rp_name: String,
}

impl ServeArgs {
    /// The database URL, given or defaulted into the data directory.
    pub(crate) fn database_url(&self) -> String {
        self.database.clone().unwrap_or_else(|| {
            format!("sqlite://{}", self.data_dir.join(DEFAULT_DATABASE_FILE).display())
        })
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrgCommand {
    /// Create another org with its own first admin.
    Create(OrgCreateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct OrgCreateArgs {
    /// The org's name.
    #[arg(long)]
    pub(crate) name: String,
    /// The directory to write the admin's key and login details into.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// The database URL of the server, e.g. `sqlite://orgusers.sqlite3`.
    #[arg(long, env = "ORGUSERS_DATABASE")]
    pub(crate) database: String,
    /// The email of the org's first admin.
    #[arg(long, default_value = DEFAULT_ADMIN_EMAIL)]
    pub(crate) admin_email: String,
}
