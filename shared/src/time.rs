//! RFC 3339 UTC timestamps.
//!
//! Times in the API, in events and in stored items are RFC 3339 in UTC with millisecond precision,
//! e.g. `2026-01-31T09:15:02.123Z`: fixed width, so they also sort as strings.

use ::time::{OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339};

/// The current time in UTC, truncated to whole milliseconds.
#[must_use]
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_millisecond(now.millisecond()).unwrap_or(now)
}

/// The current time as an RFC 3339 UTC string.
#[must_use]
pub fn now_rfc3339() -> String {
    to_rfc3339(now())
}

/// Formats a time as RFC 3339 in UTC with milliseconds (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
///
/// The offset is normalised to UTC first; sub-millisecond digits are dropped.
#[must_use]
pub fn to_rfc3339(at: OffsetDateTime) -> String {
    let utc = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.millisecond()
    )
}

/// Parses an RFC 3339 timestamp (any offset) and normalises it to UTC.
///
/// # Errors
/// Returns the parser's error when the text is not RFC 3339.
pub fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, ::time::error::Parse> {
    OffsetDateTime::parse(text, &Rfc3339).map(|t| t.to_offset(UtcOffset::UTC))
}

/// Serde adapter: `#[serde(with = "shared::time::rfc3339")]` on an `OffsetDateTime` field writes it
/// with [`to_rfc3339`] and reads it with [`parse_rfc3339`].
pub mod rfc3339 {
    use ::time::OffsetDateTime;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serializes as an RFC 3339 UTC string.
    ///
    /// # Errors
    /// Only the serializer's own errors.
    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::to_rfc3339(*at))
    }

    /// Deserializes from an RFC 3339 string, normalised to UTC.
    ///
    /// # Errors
    /// When the value is not a string or not RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_rfc3339(&text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::time::macros::datetime;

    #[test]
    fn formats_utc_with_milliseconds_and_a_z_suffix() {
        let at = datetime!(2026-01-31 09:15:02.123456789 +02:00);
        assert_eq!(to_rfc3339(at), "2026-01-31T07:15:02.123Z");
    }

    #[test]
    fn now_is_utc_and_parses_back() {
        let text = now_rfc3339();
        assert!(text.ends_with('Z'));
        assert_eq!(text.len(), 24);
        let parsed = parse_rfc3339(&text).unwrap();
        assert_eq!(to_rfc3339(parsed), text);
    }

    #[test]
    fn parsing_normalises_offsets_to_utc() {
        let parsed = parse_rfc3339("2026-01-31T09:15:02+02:00").unwrap();
        assert_eq!(parsed.offset(), UtcOffset::UTC);
        assert_eq!(to_rfc3339(parsed), "2026-01-31T07:15:02.000Z");
        assert!(parse_rfc3339("31/01/2026").is_err());
    }
}
