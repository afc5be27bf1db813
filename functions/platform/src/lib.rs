//! Platform functions: the health check (`GET /v1/health`), the API's OpenAPI document
//! (`GET /v1/openapi.json`, assembled in [`openapi`]) and the problem+json answer of the API's
//! `$default` route for unknown paths. None calls AWS.

pub mod handlers;
pub mod openapi;

use shared::config::{ConfigError, Env};

/// Configuration of the platform functions, read once per cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Name reported by the health check (`SERVICE_NAME`, default `platform`).
    pub service: String,
    /// Version of this crate, reported by the health check.
    pub version: &'static str,
    /// AWS region the function runs in (`AWS_REGION`, set by Lambda), if known.
    pub region: Option<String>,
}

impl Config {
    /// Default service name when `SERVICE_NAME` is unset.
    pub const DEFAULT_SERVICE: &'static str = "platform";

    /// Reads the configuration.
    ///
    /// # Errors
    /// When `SERVICE_NAME` is not a plain name (letters, digits, `-`, `_`, `.`; at most 64 characters).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let service = env
            .optional("SERVICE_NAME")
            .unwrap_or_else(|| Self::DEFAULT_SERVICE.to_owned());
        let plain = service.len() <= 64
            && service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !plain {
            return Err(ConfigError::invalid(
                "SERVICE_NAME",
                "expected letters, digits, '-', '_' or '.'",
            ));
        }
        Ok(Self {
            service,
            version: env!("CARGO_PKG_VERSION"),
            region: env.optional("AWS_REGION"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        assert_eq!(config.service, "platform");
        assert_eq!(config.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(config.region, None);
    }

    #[test]
    fn service_name_and_region_come_from_the_environment() {
        let env = Env::from_pairs([
            ("SERVICE_NAME", "shop-platform"),
            ("AWS_REGION", "eu-west-1"),
        ]);
        let config = Config::from_env(&env).unwrap();
        assert_eq!(config.service, "shop-platform");
        assert_eq!(config.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn an_odd_service_name_is_rejected_by_name() {
        let err = Config::from_env(&Env::from_pairs([("SERVICE_NAME", "a b")])).unwrap_err();
        assert!(err.to_string().contains("SERVICE_NAME"));
    }
}
