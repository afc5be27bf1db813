//! Validated identity types. Request bodies are parsed into these before any business logic runs.
//!
//! The password policy: 10 to 128 characters (Unicode scalar values), not all whitespace. Nothing else
//! is required (no composition rules, as NIST SP 800-63B advises); length is what makes guessing slow.

use serde::{Deserialize, Deserializer, Serialize};
use shared::error::FieldError;
use unicode_normalization::UnicodeNormalization as _;

/// Shortest accepted password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Longest accepted password, in characters.
pub const PASSWORD_MAX_CHARS: usize = 128;
/// Longest accepted email address, in bytes (RFC 5321's path limit).
pub const EMAIL_MAX_LEN: usize = 254;
/// Most addresses one user may keep.
pub const MAX_ADDRESSES: u32 = 20;

/// A normalized email address: Unicode NFC, trimmed, lowercased, and of a plausible
/// `local@domain.tld` shape.
///
/// NFC comes first, so the two ways of writing an accented letter (`é` as one code point, or `e`
/// and a combining acute accent) are one address and one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Normalizes and validates `raw`.
    ///
    /// # Errors
    /// A [`FieldError`] on `email` saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let composed: String = raw.trim().nfc().collect();
        // Lowercasing a few letters yields a combining sequence again: compose once more.
        let email: String = composed.to_lowercase().nfc().collect();
        let invalid = |message: &str| FieldError::new("email", message);
        if email.is_empty() {
            return Err(invalid("is required"));
        }
        if email.len() > EMAIL_MAX_LEN {
            return Err(invalid("must be at most 254 characters"));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(invalid("must look like name@example.com"));
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| {
                c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c) || !c.is_ascii()
            })
            && !local.chars().any(char::is_whitespace);
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
                    && !label.chars().any(char::is_whitespace)
            })
            && labels
                .last()
                .is_some_and(|tld| tld.chars().all(char::is_alphabetic) && tld.len() >= 2);
        if !local_ok || !domain_ok {
            return Err(invalid("must look like name@example.com"));
        }
        Ok(Self(email))
    }

    /// The normalized address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the policy (see the [module docs](self)). Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Checks `raw` against the policy. The password is kept exactly as given (no trimming).
    ///
    /// # Errors
    /// A [`FieldError`] on `password` saying which rule failed.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let chars = raw.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            return Err(FieldError::new(
                "password",
                format!("must be at least {PASSWORD_MIN_CHARS} characters"),
            ));
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err(FieldError::new(
                "password",
                format!("must be at most {PASSWORD_MAX_CHARS} characters"),
            ));
        }
        if raw.chars().all(char::is_whitespace) {
            return Err(FieldError::new("password", "must not be only whitespace"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password, for hashing.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164: `+`, a country code not starting with 0, 8 to 15 digits in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Validates `raw` (surrounding whitespace is ignored; inner spaces or dashes are not accepted).
    ///
    /// # Errors
    /// A [`FieldError`] on `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        let digits = raw.strip_prefix('+').unwrap_or_default();
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "must be an E.164 number such as +14155550123",
            ))
        }
    }

    /// The number.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A required single-line text field: trimmed, 1 to `max` characters, no control characters.
///
/// # Errors
/// A [`FieldError`] on `field`.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// An ISO 3166-1 alpha-2 country code, uppercased.
///
/// # Errors
/// A [`FieldError`] on `field`.
pub fn country(field: &str, raw: &str) -> Result<String, FieldError> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(FieldError::new(
            field,
            "must be a two-letter ISO 3166-1 country code",
        ))
    }
}

/// A JSON field that may be absent (leave as is), `null` (clear) or a value (set), for PATCH bodies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// The field was not sent.
    #[default]
    Keep,
    /// The field was `null`.
    Clear,
    /// The field was set.
    Set(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(|value| value.map_or(Self::Clear, Self::Set))
    }
}

impl<T> Patch<T> {
    /// Whether the field was sent at all.
    pub fn is_sent(&self) -> bool {
        !matches!(self, Self::Keep)
    }
}

/// Collects field errors while a request is checked, then fails with all of them at once.
#[derive(Debug, Default)]
pub struct Checks {
    errors: Vec<FieldError>,
}

impl Checks {
    /// Keeps the value of `result`, or records its error and gives `None`.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.errors.push(e)).ok()
    }

    /// Records an error.
    pub fn fail(&mut self, field: &str, message: &str) {
        self.errors.push(FieldError::new(field, message));
    }

    /// `Ok` when nothing failed, else a 400 `VALIDATION_FAILED` listing every error.
    ///
    /// # Errors
    /// The validation problem.
    pub fn finish(self) -> Result<(), shared::ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(shared::ApiError::validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Ada.Lovelace@Example.COM ")
                .unwrap()
                .as_str(),
            "ada.lovelace@example.com"
        );
        assert!(Email::parse("a+tag@sub.example.co.uk").is_ok());
    }

    #[test]
    fn two_spellings_of_one_accented_address_are_one_email() {
        let precomposed = Email::parse("Jos\u{e9}@exampl\u{e9}.fr").unwrap();
        let combining = Email::parse("jose\u{301}@EXAMPLE\u{301}.fr").unwrap();
        assert_eq!(precomposed, combining);
        assert_eq!(precomposed.as_str(), "jos\u{e9}@exampl\u{e9}.fr");
    }

    #[test]
    fn implausible_emails_are_rejected() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@example",
            "a@.com",
            "a b@example.com",
            "a@exa mple.com",
            ".a@example.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example.c0m",
            &format!("{}@example.com", "a".repeat(65)),
            &format!("a@{}.com", "b".repeat(250)),
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad}");
        }
    }

    #[test]
    fn passwords_follow_the_length_policy() {
        assert!(Password::parse("123456789").is_err());
        assert!(Password::parse("1234567890").is_ok());
        assert!(Password::parse(&"ü".repeat(128)).is_ok());
        assert!(Password::parse(&"ü".repeat(129)).is_err());
        assert!(Password::parse("           ").is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-secret").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn phones_must_be_e164() {
        assert_eq!(
            Phone::parse("phone", " +14155550123 ").unwrap().as_str(),
            "+14155550123"
        );
        for bad in [
            "14155550123",
            "+0123456789",
            "+1415",
            "+1 415 555 0123",
            "+1234567890123456",
        ] {
            assert!(Phone::parse("phone", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patch_fields_tell_absent_from_null() {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            name: Patch<String>,
        }
        let parse = |s: &str| serde_json::from_str::<Body>(s).unwrap().name;
        assert_eq!(parse("{}"), Patch::Keep);
        assert_eq!(parse(r#"{"name":null}"#), Patch::Clear);
        assert_eq!(parse(r#"{"name":"Ada"}"#), Patch::Set("Ada".into()));
    }

    #[test]
    fn text_and_country_fields_are_checked() {
        assert_eq!(text("city", "  Paris ", 10).unwrap(), "Paris");
        assert!(text("city", "  ", 10).is_err());
        assert!(text("city", "a\u{0}b", 10).is_err());
        assert!(text("city", &"x".repeat(11), 10).is_err());
        assert_eq!(country("country", "fr").unwrap(), "FR");
        assert!(country("country", "FRA").is_err());
    }
}
