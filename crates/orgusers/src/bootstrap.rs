//! Creating orgs with their first admin, and writing how the admin logs in.
//!
//! An org's first admin gets a fresh P-256 key. Its private key goes to
//! `orgusers-admin.pem` (mode 0600) and its login details to
//! `orgusers-admin.json`; neither file is ever overwritten.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use app::{CreatedOrg, Ports, Service};
use domain::{OrgName, Username};
use ports::UserRepository;
use serde_json::json;

/// The file the admin's private key is written to.
pub(crate) const KEY_FILE: &str = "orgusers-admin.pem";

/// The file the admin's login details are written to.
pub(crate) const DETAILS_FILE: &str = "orgusers-admin.json";

/// The name of the org created on an empty database.
const FIRST_ORG_NAME: &str = "orgusers";

/// Creates the first org when the database has none.
pub(crate) async fn first_org_if_empty<P: Ports>(
    service: &Service<P>,
    admin_email: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    if service.users().count_orgs().await? > 0 {
        return Ok(());
    }
    create_org(service, FIRST_ORG_NAME, admin_email, dir).await
}

/// Creates an org and its first admin, and writes the admin's key and login
/// details into `dir`.
pub(crate) async fn create_org<P: Ports>(
    service: &Service<P>,
    name: &str,
    admin_email: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    let name = OrgName::parse(name)?;
    let admin = Username::parse(admin_email).context("--admin-email")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;

    // Claim both files before the org exists, so that an existing file
    // stops the bootstrap before anything is stored.
    let key_path = dir.join(KEY_FILE);
    let details_path = dir.join(DETAILS_FILE);
    let mut key_file = create_new(&key_path, 0o600)?;
    let details_file = match create_new(&details_path, 0o644) {
        Ok(file) => file,
        Err(e) => {
            remove(&key_path);
            return Err(e);
        }
    };

    let written = async {
        let key = signature::generate_p256_key().context("cannot generate the admin's key")?;
        let created = service.create_org(name, admin, key.public_key_pem).await?;
        key_file.write_all(key.private_key_pem.as_bytes())?;
        key_file.sync_all()?;
        write_details(details_file, &created)?;
        anyhow::Ok(created)
    }
    .await;
    match written {
        Ok(created) => {
            tracing::info!(
                org_id = %created.org.id,
                user_id = %created.admin.id,
                key = %key_path.display(),
                details = %details_path.display(),
                "created an org and its first admin; its key and login details are on disk"
            );
            Ok(())
        }
        Err(e) => {
            remove(&key_path);
            remove(&details_path);
            Err(e)
        }
    }
}

fn create_new(path: &PathBuf, mode: u32) -> anyhow::Result<File> {
    if path.exists() {
        bail!("{} exists; it is never overwritten", path.display());
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn write_details(mut file: File, created: &CreatedOrg) -> anyhow::Result<()> {
    let details = json!({
        "orgId": created.org.id.as_str(),
        "username": created.admin.username.as_str(),
        "userId": created.admin.id.as_str(),
        "credId": created.cred_id.as_str(),
    });
    serde_json::to_writer_pretty(&mut file, &details)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove a half-written file");
    }
}
