//! User names: the email address a user logs in with.
//!
//! Two names are the same user name when they are equal after Unicode NFC
//! normalisation and full case folding (our rule: `Jane@Example.com` and
//! `jane@example.com` name one user). The name keeps its original spelling
//! for display; [`Username::key`] is what uniqueness is decided on.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The longest user name accepted, in characters (the longest email address
/// that SMTP can carry).
pub const MAX_USERNAME_CHARS: usize = 320;

/// ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER: format characters that
/// some scripts need to spell words.
const ZWNJ: char = '\u{200c}';
const ZWJ: char = '\u{200d}';

/// A valid user name, with its comparison key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    display: String,
    key: String,
}

/// Occurs when a string cannot be a user name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Occurs when the name is empty or only white space.
    #[error("email is empty")]
    Empty,
    /// Occurs when the name is longer than [`MAX_USERNAME_CHARS`].
    #[error("email is longer than {MAX_USERNAME_CHARS} characters")]
    TooLong,
    /// Occurs when the name has white space or control characters.
    #[error("email must not contain white space or control characters")]
    ForbiddenCharacter,
    /// Occurs when the name has a Unicode format character (general
    /// category Cf): one that is invisible or reorders text, such as a
    /// zero-width space, a soft hyphen or a bidi control.
    #[error(
        "email must not contain Unicode format characters such as zero-width spaces, \
         soft hyphens or bidi controls"
    )]
    FormatCharacter,
    /// Occurs when the name is not `local@domain`.
    #[error("email must have the form name@domain")]
    NotAnEmail,
}

impl Username {
    /// Parses the user name of a new user, given as an email address.
    pub fn parse(candidate: &str) -> Result<Username, UsernameError> {
        let name = Username::existing(candidate)?;
        // Such characters survive normalisation and case folding, so two
        // names a person cannot tell apart would have different keys, and
        // one name could be shown as another. The joiners are the
        // exception: scripts such as Persian and Sinhala spell words with
        // them.
        let hides =
            |c: char| c.general_category() == GeneralCategory::Format && !matches!(c, ZWNJ | ZWJ);
        if name.display.chars().any(hides) {
            return Err(UsernameError::FormatCharacter);
        }
        Ok(name)
    }

    /// Parses a user name to look up or to read back from a store: the
    /// rules every stored name has always met, without those only a new
    /// name must meet. A name stored before a rule for new names existed
    /// stays readable, can be archived and can log in; a lookup cannot
    /// create a look-alike.
    pub fn existing(candidate: &str) -> Result<Username, UsernameError> {
        if candidate.trim().is_empty() {
            return Err(UsernameError::Empty);
        }
        let display: String = candidate.nfc().collect();
        if display.chars().count() > MAX_USERNAME_CHARS {
            return Err(UsernameError::TooLong);
        }
        if display.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UsernameError::ForbiddenCharacter);
        }
        match display.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {}
            _ => return Err(UsernameError::NotAnEmail),
        }
        let key = caseless::default_case_fold_str(&display).nfc().collect();
        Ok(Username { display, key })
    }

    /// The name as the user spelled it (NFC-normalised).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The comparison key: two user names clash when their keys are equal.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether `self` and `other` are the same user name.
    pub fn same_as(&self, other: &Username) -> bool {
        self.key == other.key
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> String {
        Username::parse(name).unwrap().key().to_owned()
    }

    #[test]
    fn case_variants_share_a_key() {
        assert_eq!(key("Jane@Example.com"), key("jane@example.com"));
        assert_eq!(key("STRASSE@x.de"), key("straße@x.de"));
    }

    #[test]
    fn composed_and_decomposed_forms_share_a_key() {
        assert_eq!(key("jos\u{e9}@x.io"), key("jose\u{301}@x.io"));
        assert_eq!(key("JOS\u{c9}@x.io"), key("jose\u{301}@x.io"));
    }

    #[test]
    fn different_names_have_different_keys() {
        assert_ne!(key("jane@example.com"), key("jane2@example.com"));
    }

    #[test]
    fn the_display_form_keeps_the_spelling() {
        assert_eq!(Username::parse("Jane@Example.com").unwrap().as_str(), "Jane@Example.com");
    }

    #[test]
    fn rejects_what_is_not_an_email() {
        assert_eq!(Username::parse(""), Err(UsernameError::Empty));
        assert_eq!(Username::parse("  "), Err(UsernameError::Empty));
        assert_eq!(Username::parse("jane"), Err(UsernameError::NotAnEmail));
        assert_eq!(Username::parse("@x.io"), Err(UsernameError::NotAnEmail));
        assert_eq!(Username::parse("jane@"), Err(UsernameError::NotAnEmail));
        assert_eq!(Username::parse("ja ne@x.io"), Err(UsernameError::ForbiddenCharacter));
        assert_eq!(Username::parse("jane@x.io\n"), Err(UsernameError::ForbiddenCharacter));
        let long = format!("{}@x.io", "a".repeat(MAX_USERNAME_CHARS));
        assert_eq!(Username::parse(&long), Err(UsernameError::TooLong));
    }

    #[test]
    fn rejects_invisible_and_reordering_format_characters() {
        for name in [
            "ja\u{200b}ne@x.io",  // zero-width space
            "ja\u{ad}ne@x.io",    // soft hyphen
            "jane@x\u{202e}oi.",  // right-to-left override
            "\u{2066}jane@x.io",  // left-to-right isolate
            "jane@x.io\u{feff}",  // zero-width no-break space
            "jane\u{e0041}@x.io", // a tag character
        ] {
            assert_eq!(Username::parse(name), Err(UsernameError::FormatCharacter), "{name:?}");
        }
    }

    #[test]
    fn accepts_letters_and_marks_of_any_script() {
        for name in [
            "jos\u{e9}@x.io",
            "jose\u{301}@x.io",
            "\u{5d0}\u{5d1}@x.io",
            "名前@例え.jp",
            // Persian and Sinhala words written with the joiners.
            "\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}@x.ir",
            "\u{dc1}\u{dca}\u{200d}\u{dbb}\u{dd3}@x.lk",
        ] {
            assert!(Username::parse(name).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn a_name_stored_before_the_rule_on_format_characters_is_still_read() {
        let legacy = "ja\u{200b}ne@x.io";
        assert_eq!(Username::parse(legacy), Err(UsernameError::FormatCharacter));
        let read = Username::existing(legacy).unwrap();
        assert_eq!(read.as_str(), legacy);
        assert_ne!(read.key(), key("jane@x.io"));
        // The rules every stored name met still hold when reading.
        assert_eq!(Username::existing("ja ne@x.io"), Err(UsernameError::ForbiddenCharacter));
        assert_eq!(Username::existing("jane"), Err(UsernameError::NotAnEmail));
    }
}
