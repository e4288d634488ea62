//! Identifiers: a prefix and three groups of lowercase base-36.
//!
//! An id looks like `us-3v9kq-2m1c8-7tq0d5l3h2b9a8xw`: the prefix names what
//! it identifies, then groups of 5, 5 and 14 to 16 characters. We generate
//! 16 in the last group; ids issued elsewhere may have fewer, so parsing
//! accepts 14 to 16.

use std::fmt;

/// How many random bytes make one id: one byte per base-36 character.
pub const ID_RANDOM_BYTES: usize = 26;

/// Occurs when a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct IdError {
    kind: &'static str,
}

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

fn is_group(group: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&group.len())
        && group.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

fn is_valid(prefix: &str, candidate: &str) -> bool {
    let Some(rest) = candidate.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let mut groups = rest.split('-');
    matches!(
        (groups.next(), groups.next(), groups.next(), groups.next()),
        (Some(a), Some(b), Some(c), None)
            if is_group(a, 5, 5) && is_group(b, 5, 5) && is_group(c, 14, 16)
    )
}

fn generate(prefix: &str, random: &[u8; ID_RANDOM_BYTES]) -> String {
    // A byte modulo 36 is very slightly biased towards the first four digits;
    // 26 characters still carry more than 128 bits of entropy.
    let chars: Vec<char> = random.iter().map(|b| ALPHABET[usize::from(b % 36)] as char).collect();
    let group = |range: std::ops::Range<usize>| chars[range].iter().collect::<String>();
    format!("{prefix}-{}-{}-{}", group(0..5), group(5..10), group(10..26))
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses an id, accepting only the canonical form.
            pub fn parse(candidate: &str) -> Result<$name, IdError> {
                if is_valid($prefix, candidate) {
                    Ok($name(candidate.to_owned()))
                } else {
                    Err(IdError { kind: $kind })
                }
            }

            /// A new id made from random bytes the caller drew from a
            /// cryptographic generator.
            pub fn from_random(random: &[u8; ID_RANDOM_BYTES]) -> $name {
                $name(generate($prefix, random))
            }

            /// The id as it travels on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// Identifies a user, for example `us-3v9kq-2m1c8-7tq0d5l3h2b9a8xw`.
    UserId, "us", "user"
);
prefixed_id!(
    /// Identifies an org, for example `or-8d2k1-x0p4z-5n7m2q9r3s1t6u4v`.
    OrgId, "or", "org"
);
prefixed_id!(
    /// Identifies a credential record (the user's `credentialUuid`).
    CredentialUuid, "cr", "credential"
);
prefixed_id!(
    /// Identifies a permission (a role).
    PermissionId, "pm", "permission"
);
prefixed_id!(
    /// Identifies the assignment of a permission to a user.
    AssignmentId, "as", "assignment"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_canonical_shape_with_14_to_16_trailing_characters() {
        assert!(UserId::parse("us-em7bu-m6c48-hdqoobj7dj24pko").is_ok());
        assert!(UserId::parse("us-3v9kq-2m1c8-7tq0d5l3h2b9a8xw").is_ok());
        assert!(UserId::parse("us-3v9kq-2m1c8-7tq0d5l3h2b9a8").is_ok());
    }

    #[test]
    fn rejects_every_other_shape() {
        for bad in [
            "",
            "us-",
            "us-3v9kq-2m1c8",
            "us-3v9kq-2m1c8-7tq0d5l3h2b9a",
            "us-3v9kq-2m1c8-7tq0d5l3h2b9a8xwz",
            "us-3V9kq-2m1c8-7tq0d5l3h2b9a8xw",
            "or-3v9kq-2m1c8-7tq0d5l3h2b9a8xw",
            "us-3v9kq-2m1c8-7tq0d5l3h2b9a8xw-",
            "us-3v9kq-2m1c8-7tq0d5l3h2b9a8x\u{e9}",
            "us_3v9kq-2m1c8-7tq0d5l3h2b9a8xw",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn generated_ids_parse_back() {
        let random = core::array::from_fn(|i| (i * 37) as u8);
        let id = OrgId::from_random(&random);
        assert_eq!(OrgId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.as_str().len(), "or-".len() + 5 + 1 + 5 + 1 + 16);
    }
}
