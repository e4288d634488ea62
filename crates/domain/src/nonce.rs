//! The legacy request nonce (`X-DFNS-NONCE`): a one-time, dated marker a
//! client may send with a request, refused when stale or replayed.
//!
//! The header is base64url of the JSON `{"uuid": ..., "date": ...}`. This
//! module parses it and decides whether it is fresh at a given `now`;
//! whether it was used before is the store's answer, since only the store
//! sees every request of every server process.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Iso8601;

use crate::{Duration, Timestamp};

/// How far a nonce's date may be from the server's clock, either way.
pub const NONCE_WINDOW: Duration = Duration::from_seconds(5 * 60);

/// The fewest characters a nonce's `uuid` may have.
pub const MIN_NONCE_UUID_CHARS: usize = 13;

/// The most characters a nonce's `uuid` may have **(our rule)**: a UUID has
/// 36, and every accepted nonce is stored until it goes stale, so a client
/// must not be able to make the store keep kilobytes per request.
pub const MAX_NONCE_UUID_CHARS: usize = 128;

/// base64url, padded or not: SDKs differ (Python's encoder pads).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A request nonce that parsed: its unique part and the time it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce {
    uuid: String,
    date: Timestamp,
}

/// Occurs when a request nonce is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// Occurs when the nonce is required but missing, is not base64url of
    /// a JSON object with a `uuid` of 13 to 128 characters, none of them a
    /// control character, and an ISO-8601 `date`, or
    /// its date is more than [`NONCE_WINDOW`] from the server's clock.
    #[error("request nonce is missing or invalid")]
    MissingOrInvalid,
    /// Occurs when a request already presented the nonce.
    #[error("request nonce has already been used")]
    AlreadyUsed,
}

/// The JSON inside the header. Other members are ignored, as the SDKs may
/// add some.
#[derive(Deserialize)]
struct NonceJson {
    uuid: String,
    date: String,
}

impl Nonce {
    /// Parses the header's value: base64url, then JSON, then the `uuid`
    /// length and the `date`, which must be ISO 8601 with a time zone
    /// (`new Date().toISOString()` writes `2024-05-01T12:00:00.000Z`).
    pub fn parse(header: &str) -> Result<Nonce, NonceError> {
        let json = BASE64URL.decode(header.trim()).map_err(|_| NonceError::MissingOrInvalid)?;
        // serde would also read a struct from an array; only an object is
        // the contract's shape.
        let json: serde_json::Value =
            serde_json::from_slice(&json).map_err(|_| NonceError::MissingOrInvalid)?;
        if !json.is_object() {
            return Err(NonceError::MissingOrInvalid);
        }
        let NonceJson { uuid, date } =
            serde_json::from_value(json).map_err(|_| NonceError::MissingOrInvalid)?;

        let chars = uuid.chars().count();
        if !(MIN_NONCE_UUID_CHARS..=MAX_NONCE_UUID_CHARS).contains(&chars) {
            return Err(NonceError::MissingOrInvalid);
        }
        // The store records the uuid as text, and a NUL cannot be stored
        // in every database; no uuid a client makes has a control
        // character.
        if uuid.chars().any(char::is_control) {
            return Err(NonceError::MissingOrInvalid);
        }

        let date = OffsetDateTime::parse(&date, &Iso8601::DEFAULT)
            .map_err(|_| NonceError::MissingOrInvalid)?;
        // Sub-millisecond digits are dropped: the window is minutes wide.
        let millis = date.unix_timestamp_nanos().div_euclid(1_000_000);
        let millis = i64::try_from(millis).map_err(|_| NonceError::MissingOrInvalid)?;
        Ok(Nonce { uuid, date: Timestamp::from_unix_millis(millis) })
    }

    /// The part that makes the nonce unique; the store records it.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The time the nonce names.
    pub fn date(&self) -> Timestamp {
        self.date
    }

    /// Succeeds when the nonce's date is at most [`NONCE_WINDOW`] before or
    /// after `now`.
    pub fn check_fresh(&self, now: Timestamp) -> Result<(), NonceError> {
        let distance = now.unix_millis().abs_diff(self.date.unix_millis());
        if distance <= NONCE_WINDOW.millis().unsigned_abs() {
            Ok(())
        } else {
            Err(NonceError::MissingOrInvalid)
        }
    }

    /// When the record of this nonce's use may be forgotten: from then on
    /// [`Nonce::check_fresh`] refuses it anyway.
    pub fn expires_at(&self) -> Timestamp {
        self.date.plus(NONCE_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

    use super::*;

    /// 2024-05-01T12:00:00Z.
    const NOON: i64 = 1_714_564_800_000;

    fn header(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn parses_what_the_sdks_send() {
        let json =
            r#"{"uuid":"0b6e7c4e-3f1a-4b8e-9d6a-2f0c1e5a7b90","date":"2024-05-01T12:00:00.000Z"}"#;
        for header in [URL_SAFE_NO_PAD.encode(json), URL_SAFE.encode(json)] {
            let nonce = Nonce::parse(&header).unwrap();
            assert_eq!(nonce.uuid(), "0b6e7c4e-3f1a-4b8e-9d6a-2f0c1e5a7b90");
            assert_eq!(nonce.date(), Timestamp::from_unix_millis(NOON));
        }
    }

    #[test]
    fn reads_the_time_zone_and_the_milliseconds() {
        let nonce = Nonce::parse(&header(
            r#"{"uuid":"abcdefghijklm","date":"2024-05-01T14:00:00.250+02:00"}"#,
        ))
        .unwrap();
        assert_eq!(nonce.date(), Timestamp::from_unix_millis(NOON + 250));
    }

    #[test]
    fn refuses_anything_malformed() {
        let long_uuid = "u".repeat(MAX_NONCE_UUID_CHARS + 1);
        let refused = [
            String::new(),
            "not base64url!".to_owned(),
            // Standard base64 with `+` and `/` is not base64url.
            STANDARD.encode([0xfb, 0xff, 0xbf]),
            header("not json"),
            header(r#"["abcdefghijklm","2024-05-01T12:00:00Z"]"#),
            header(r#"{"uuid":"abcdefghijkl","date":"2024-05-01T12:00:00Z"}"#),
            header(&format!(r#"{{"uuid":"{long_uuid}","date":"2024-05-01T12:00:00Z"}}"#)),
            header(r#"{"uuid":"abcdefghijklm"}"#),
            header(r#"{"uuid":"abcdefghijklm","date":"yesterday"}"#),
            header(r#"{"uuid":"abcdefghijklm","date":"2024-05-01T12:00:00"}"#),
            header(r#"{"uuid":"abcdefghijklm","date":"2024-02-30T12:00:00Z"}"#),
            header(r#"{"uuid":"abcdefghijklm","date":1714564800000}"#),
        ];
        for candidate in refused {
            assert_eq!(Nonce::parse(&candidate), Err(NonceError::MissingOrInvalid), "{candidate}");
        }
    }

    #[test]
    fn refuses_a_uuid_with_a_control_character() {
        for uuid in [r"abcdef\u0000ghijklm", r"abcdefghijklm\n", r"abcdefghijklm\u009f"] {
            let json = format!(r#"{{"uuid":"{uuid}","date":"2024-05-01T12:00:00Z"}}"#);
            assert_eq!(Nonce::parse(&header(&json)), Err(NonceError::MissingOrInvalid), "{json}");
        }
    }

    #[test]
    fn counts_characters_not_bytes() {
        // Thirteen characters, more than thirteen bytes.
        let json = r#"{"uuid":"ééééééééééééé","date":"2024-05-01T12:00:00Z"}"#;
        assert!(Nonce::parse(&header(json)).is_ok());
    }

    #[test]
    fn is_fresh_within_five_minutes_either_way() {
        let nonce =
            Nonce::parse(&header(r#"{"uuid":"abcdefghijklm","date":"2024-05-01T12:00:00Z"}"#))
                .unwrap();
        let window = NONCE_WINDOW.millis();
        for fresh in [NOON, NOON - window, NOON + window] {
            assert_eq!(nonce.check_fresh(Timestamp::from_unix_millis(fresh)), Ok(()));
        }
        for stale in [NOON - window - 1, NOON + window + 1] {
            assert_eq!(
                nonce.check_fresh(Timestamp::from_unix_millis(stale)),
                Err(NonceError::MissingOrInvalid)
            );
        }
        assert_eq!(nonce.expires_at(), Timestamp::from_unix_millis(NOON + window));
    }
}
