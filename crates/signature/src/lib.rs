//! Verification of the signatures that Key credentials make.
