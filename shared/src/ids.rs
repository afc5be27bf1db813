//! Sortable identifiers.
//!
//! Every id the system mints is a UUIDv7: 48 bits of Unix milliseconds followed by random bits, so ids
//! sort by creation time (handy as DynamoDB sort keys) and still cannot be guessed.

use uuid::Uuid;

/// A new UUIDv7, ordered by creation time.
#[must_use]
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Parses an id supplied by a client (path or body), accepting only the hyphenated form.
///
/// Returns `None` for anything else, so the caller decides whether that is a 400 or a 404.
#[must_use]
pub fn parse_id(raw: &str) -> Option<Uuid> {
    if raw.len() != 36 {
        return None;
    }
    Uuid::try_parse(raw).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_version_7_and_sort_by_creation() {
        let first = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id();
        assert_eq!(first.get_version_num(), 7);
        assert!(first < second);
        assert!(first.to_string() < second.to_string());
    }

    #[test]
    fn parse_id_accepts_only_the_hyphenated_form() {
        let id = new_id();
        assert_eq!(parse_id(&id.to_string()), Some(id));
        assert_eq!(parse_id(&id.simple().to_string()), None);
        assert_eq!(parse_id("not-an-id"), None);
        assert_eq!(parse_id(""), None);
    }
}
