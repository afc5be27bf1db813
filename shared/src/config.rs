//! Typed configuration read from the environment.
//!
//! Each function defines its own `Config` struct and builds it once at start from an [`Env`]; a missing
//! or malformed variable stops the function with an error that names the variable. Tests build an
//! [`Env`] from a closure or a list of pairs instead of touching the process environment.
//!
//! ```
//! use shared::config::{ConfigError, Env};
//!
//! struct Config { table: String, page_size: u32 }
//!
//! impl Config {
//!     fn from_env(env: &Env) -> Result<Self, ConfigError> {
//!         Ok(Self { table: env.required("TABLE_NAME")?, page_size: env.parse_or("PAGE_SIZE", 20)? })
//!     }
//! }
//!
//! let env = Env::from_pairs([("TABLE_NAME", "orders")]);
//! let config = Config::from_env(&env).unwrap();
//! assert_eq!((config.table.as_str(), config.page_size), ("orders", 20));
//! ```

use std::{collections::HashMap, fmt, str::FromStr};

/// Why configuration could not be read. Every variant names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("environment variable {name} is required but not set")]
    Missing {
        /// The variable's name.
        name: String,
    },
    /// A variable is set but its value cannot be used. The value itself is not repeated (it may be secret).
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        name: String,
        /// What is wrong with the value.
        reason: String,
    },
}

impl ConfigError {
    /// A [`ConfigError::Invalid`] for `name`, for checks done after reading a value.
    #[must_use]
    pub fn invalid(name: &str, reason: impl fmt::Display) -> Self {
        Self::Invalid {
            name: name.to_owned(),
            reason: reason.to_string(),
        }
    }
}

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// A source of configuration variables: the process environment, or any lookup function.
///
/// Empty (or all-whitespace) values count as unset, because templates often pass `""` for an
/// optional parameter.
pub struct Env {
    lookup: Box<Lookup>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env").finish_non_exhaustive()
    }
}

impl Env {
    /// Reads the process environment (in Lambda: the function's environment variables).
    #[must_use]
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`.
    #[must_use]
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    /// Reads variables from a fixed list of pairs (tests, tools).
    #[must_use]
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let map: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_lookup(move |name| map.get(name).cloned())
    }

    /// The value of `name`, or `None` when it is unset or empty.
    #[must_use]
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    /// The value of `name`.
    ///
    /// # Errors
    /// [`ConfigError::Missing`] when it is unset or empty.
    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.optional(name).ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
        })
    }

    /// The value of `name` parsed with [`FromStr`] (surrounding whitespace ignored).
    ///
    /// # Errors
    /// [`ConfigError::Missing`] when unset, [`ConfigError::Invalid`] when it does not parse.
    pub fn parse<T>(&self, name: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let raw = self.required(name)?;
        raw.trim()
            .parse()
            .map_err(|e| ConfigError::invalid(name, e))
    }

    /// Like [`Env::parse`], but `None` when the variable is unset.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when it is set and does not parse.
    pub fn parse_optional<T>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.optional(name) {
            None => Ok(None),
            Some(raw) => raw
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| ConfigError::invalid(name, e)),
        }
    }

    /// Like [`Env::parse`], but `default` when the variable is unset.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when it is set and does not parse.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        Ok(self.parse_optional(name)?.unwrap_or(default))
    }

    /// The shop's currency, `CURRENCY` (ISO 4217); USD when unset.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when it is not a currency code.
    pub fn currency(&self) -> Result<crate::money::Currency, ConfigError> {
        self.optional("CURRENCY")
            .map(|c| {
                crate::money::Currency::parse(c.trim())
                    .map_err(|e| ConfigError::invalid("CURRENCY", e))
            })
            .transpose()
            .map(|c| c.unwrap_or(crate::money::Currency::USD))
    }

    /// A boolean flag: `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off` (any case); `default` when unset.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for any other value.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(_) => Err(ConfigError::invalid(name, "expected true or false")),
        }
    }
}

/// Loads the AWS SDK configuration from the standard environment: region, credentials, and the
/// endpoints (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), which is all that points a function
/// at the local stack's emulator instead of AWS.
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A secret could not be read.
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::from_pairs([
            ("TABLE_NAME", "orders"),
            ("PAGE_SIZE", " 25 "),
            ("EMPTY", "  "),
            ("BAD_NUMBER", "lots"),
        ])
    }

    #[test]
    fn required_returns_the_value_or_names_the_missing_variable() {
        assert_eq!(env().required("TABLE_NAME").unwrap(), "orders");
        let err = env().required("QUEUE_URL").unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                name: "QUEUE_URL".into()
            }
        );
        assert!(err.to_string().contains("QUEUE_URL"));
    }

    #[test]
    fn the_currency_defaults_to_usd_and_must_be_a_code() {
        use crate::money::Currency;
        assert_eq!(env().currency().unwrap(), Currency::USD);
        let eur = Env::from_pairs([("CURRENCY", " EUR ")]).currency().unwrap();
        assert_eq!(eur.as_str(), "EUR");
        assert!(Env::from_pairs([("CURRENCY", "euro")]).currency().is_err());
    }

    #[test]
    fn empty_values_count_as_unset() {
        assert_eq!(env().optional("EMPTY"), None);
        assert!(matches!(
            env().required("EMPTY"),
            Err(ConfigError::Missing { .. })
        ));
    }

    #[test]
    fn parse_trims_and_converts() {
        assert_eq!(env().parse::<u32>("PAGE_SIZE").unwrap(), 25);
        assert_eq!(env().parse_or::<u32>("MISSING", 7).unwrap(), 7);
        assert_eq!(env().parse_optional::<u32>("MISSING").unwrap(), None);
    }

    #[test]
    fn an_unparseable_value_names_the_variable_but_not_the_value() {
        let err = env().parse::<u32>("BAD_NUMBER").unwrap_err();
        assert!(matches!(&err, ConfigError::Invalid { name, .. } if name == "BAD_NUMBER"));
        assert!(err.to_string().contains("BAD_NUMBER"));
        assert!(!err.to_string().contains("lots"));
        assert!(env().parse_or::<u32>("BAD_NUMBER", 1).is_err());
    }

    #[test]
    fn flags_accept_common_spellings() {
        let env = Env::from_pairs([("A", "TRUE"), ("B", "off"), ("C", "maybe")]);
        assert!(env.flag("A", false).unwrap());
        assert!(!env.flag("B", true).unwrap());
        assert!(env.flag("C", true).is_err());
        assert!(env.flag("D", true).unwrap());
    }

    #[test]
    fn from_lookup_uses_the_given_function() {
        let env = Env::from_lookup(|name| (name == "X").then(|| "1".to_owned()));
        assert_eq!(env.optional("X").as_deref(), Some("1"));
        assert_eq!(env.optional("Y"), None);
    }
}
