//! Orgs: the tenants users belong to.

use crate::{OrgId, Timestamp};

/// The longest org name accepted, in characters.
const MAX_ORG_NAME_CHARS: usize = 128;

/// An org's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgName(String);

/// Occurs when a string cannot be an org name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgNameError {
    /// Occurs when the name is empty, too long, or has control characters.
    #[error("an org name must be 1 to {MAX_ORG_NAME_CHARS} characters, none of them control")]
    Invalid,
}

impl OrgName {
    /// Parses an org name.
    pub fn parse(candidate: &str) -> Result<OrgName, OrgNameError> {
        let valid = !candidate.trim().is_empty()
            && candidate.chars().count() <= MAX_ORG_NAME_CHARS
            && !candidate.chars().any(char::is_control);
        if valid { Ok(OrgName(candidate.to_owned())) } else { Err(OrgNameError::Invalid) }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// The org's id.
    pub id: OrgId,
    /// Its name.
    pub name: OrgName,
    /// When it was created.
    pub created_at: Timestamp,
}
