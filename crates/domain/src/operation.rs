//! The operations a permission can grant: a closed set this server knows.

use std::fmt;
use std::str::FromStr;

/// Occurs when an operation name is not one this server knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation {name:?}")]
pub struct UnknownOperation {
    /// The name that was given.
    pub name: String,
}

macro_rules! operations {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// An operation a caller must hold a permission for.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Operation {
            $($(#[$doc])* $variant,)*
        }

        impl Operation {
            /// Every operation, in a fixed order.
            pub const ALL: &[Operation] = &[$(Operation::$variant,)*];

            /// The operation's name on the wire, for example
            /// `Auth:Users:Delete`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Operation::$variant => $name,)*
                }
            }
        }

        impl FromStr for Operation {
            type Err = UnknownOperation;

            fn from_str(name: &str) -> Result<Operation, UnknownOperation> {
                match name {
                    $($name => Ok(Operation::$variant),)*
                    _ => Err(UnknownOperation { name: name.to_owned() }),
                }
            }
        }
    };
}

operations! {
    /// Create users.
    CreateUser => "Auth:Users:Create",
    /// Read and list users.
    ReadUser => "Auth:Users:Read",
    /// Activate users.
    ActivateUser => "Auth:Users:Activate",
    /// Deactivate users.
    DeactivateUser => "Auth:Users:Deactivate",
    /// Archive users.
    DeleteUser => "Auth:Users:Delete",
    /// Create permissions.
    CreatePermission => "Permissions:Create",
    /// Read and list permissions.
    ReadPermission => "Permissions:Read",
    /// Update permissions.
    UpdatePermission => "Permissions:Update",
    /// Archive permissions.
    ArchivePermission => "Permissions:Archive",
    /// Assign permissions to users.
    AssignPermission => "Permissions:Assign",
    /// Revoke permission assignments.
    RevokePermission => "Permissions:Revoke",
    /// Read the assignments of a permission.
    ReadAssignments => "Permissions:Assignments:Read",
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_round_trips_through_its_name() {
        for op in Operation::ALL {
            assert_eq!(op.as_str().parse::<Operation>(), Ok(*op));
        }
    }

    #[test]
    fn an_unknown_name_is_named_in_the_error() {
        let err = "Auth:Users:Explode".parse::<Operation>().unwrap_err();
        assert_eq!(err.to_string(), "unknown operation \"Auth:Users:Explode\"");
        assert!("auth:users:delete".parse::<Operation>().is_err());
    }
}
