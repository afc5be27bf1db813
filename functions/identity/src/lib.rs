//! The identity service: accounts, sessions and the API's authorizer.
//!
//! - `POST /v1/auth/register`, `/login`, `/refresh`, `/logout`: [`handlers::register`],
//!   [`handlers::login`], [`handlers::refresh`], [`handlers::logout`] over an [`Accounts`] state;
//!   login, refresh and the password change also sign tokens ([`Issuing`]), and only they can read
//!   the signing keys.
//! - Accounts that do not give themselves away, verified emails and passwords: registration
//!   answers the same whether or not the email is taken, and the address's owner learns by email;
//!   `POST /v1/auth/verify-email` ([`handlers::verify_email`]); `POST /v1/users/me/password`
//!   ([`handlers::change_password`]); `POST /v1/auth/password-reset` and `/confirm`
//!   ([`handlers::request_password_reset`], [`handlers::confirm_password_reset`]). A password
//!   change or reset ends every session ([`store`]); the first admin's changing theirs retires the
//!   initial password secret ([`initial_password`]).
//! - The HTTP API's Lambda authorizer: [`handlers::authorize`] over a [`tokens::TokenVerifier`],
//!   which holds public keys only; `GET /.well-known/jwks.json` ([`handlers::get_jwks`]) serves them.
//! - The signing keys, made and rotated at deployment by a custom resource: [`handlers::jwt_keys`].
//! - `GET/PATCH /v1/users/me` and the address book under it, and the admin role change: handlers over
//!   a [`store::Store`].
//! - The first admin, created at deployment by a CloudFormation custom resource:
//!   [`handlers::bootstrap_admin`].
//! - What other services may know of a user (email, name, phone, notification opt-ins) leaves as
//!   events ([`shared::events::identity`]): `UserRegistered` when an account is created (registration
//!   or the first admin), `UserChanged` when a profile change alters those details, each written
//!   into the table's outbox in the same transaction as the change ([`store`]); and the events
//!   the notification service turns into account emails (`EmailVerificationRequested`,
//!   `RegistrationAttempted`, `PasswordResetRequested`, `PasswordChanged`,
//!   [`store::accounts`]). The
//!   `identity-publisher` function ([`shared::outbox::Publisher`]) sends them from the table's
//!   stream to the domain-events topic.
//!
//! The service owns one DynamoDB table (layout in [`store`]). Access tokens are JWTs signed with
//! Ed25519 keys from Secrets Manager ([`tokens`]); passwords are argon2id hashes ([`password`]).

pub mod api;
pub mod domain;
pub mod handlers;
pub mod initial_password;
pub mod lockout;
pub mod password;
pub mod store;
pub mod tokens;

use std::time::Duration;

use shared::config::{ConfigError, Env};

use crate::{
    lockout::Policy,
    password::{Cost, Hasher},
    store::Store,
    tokens::{PublicKeys, SigningKeys, TokenIssuer, TokenSettings, TokenVerifier},
};

/// Loads the AWS SDK configuration from the standard environment (region, credentials, and
/// `AWS_ENDPOINT_URL*`).
pub use shared::config::aws as aws_config;

/// The identity table, from `TABLE_NAME`, reached with `config`.
///
/// # Errors
/// When `TABLE_NAME` is unset.
pub fn store_from_env(env: &Env, config: &aws_config::SdkConfig) -> Result<Store, ConfigError> {
    let table = env.required("TABLE_NAME")?;
    Ok(Store::new(aws_sdk_dynamodb::Client::new(config), table))
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A secret (the JWT signing keys, the refresh rotation key) could not be read or used.
    #[error("read a secret from Secrets Manager: {0}")]
    Secret(String),
}

/// Token settings from `JWT_ISSUER`, `JWT_AUDIENCE` and `ACCESS_TOKEN_TTL_SECONDS` (default 900).
///
/// # Errors
/// A missing or malformed variable.
pub fn token_settings_from_env(env: &Env) -> Result<TokenSettings, ConfigError> {
    Ok(TokenSettings {
        issuer: env.required("JWT_ISSUER")?,
        audience: env.required("JWT_AUDIENCE")?,
        access_ttl: Duration::from_secs(env.parse_or("ACCESS_TOKEN_TTL_SECONDS", 900_u64)?),
    })
}

/// The string value of secret `id`.
///
/// # Errors
/// [`StartError::Secret`] when it cannot be read.
pub async fn read_secret(config: &aws_config::SdkConfig, id: &str) -> Result<String, StartError> {
    shared::secrets::read_string(&aws_sdk_secretsmanager::Client::new(config), id)
        .await
        .map_err(|e| StartError::Secret(e.to_string()))
}

/// The signer of the functions that issue tokens: [`token_settings_from_env`] and the signing
/// keys from the secret named by `JWT_SECRET_ARN`, read once.
///
/// # Errors
/// A missing variable, an unreadable secret, or one that holds no usable key yet.
pub async fn token_issuer_from_env(
    env: &Env,
    config: &aws_config::SdkConfig,
) -> Result<TokenIssuer, StartError> {
    let settings = token_settings_from_env(env)?;
    let text = read_secret(config, &env.required("JWT_SECRET_ARN")?).await?;
    let keys = SigningKeys::from_secret(&text)
        .map_err(|e| StartError::Secret(e.to_string()))?
        .ok_or_else(|| StartError::Secret("the signing key secret holds no key yet".into()))?;
    TokenIssuer::new(&keys, settings).map_err(|e| StartError::Secret(e.to_string()))
}

/// The public keys from the secret named by `JWKS_SECRET_ARN`.
///
/// # Errors
/// A missing variable, an unreadable secret or a malformed key set.
pub async fn public_keys_from_env(
    env: &Env,
    config: &aws_config::SdkConfig,
) -> Result<PublicKeys, StartError> {
    let text = read_secret(config, &env.required("JWKS_SECRET_ARN")?).await?;
    PublicKeys::from_jwks(&text).map_err(|e| StartError::Secret(e.to_string()))
}

/// The authorizer's verifier: [`token_settings_from_env`] and [`public_keys_from_env`].
///
/// # Errors
/// As those.
pub async fn token_verifier_from_env(
    env: &Env,
    config: &aws_config::SdkConfig,
) -> Result<TokenVerifier, StartError> {
    Ok(TokenVerifier::new(
        public_keys_from_env(env, config).await?,
        token_settings_from_env(env)?,
    ))
}

/// The argon2id cost from `ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS` and `ARGON2_PARALLELISM`
/// (defaults: [`Cost::default`]).
///
/// # Errors
/// A malformed value, or parameters argon2 refuses.
pub fn hasher_from_env(env: &Env) -> Result<Hasher, ConfigError> {
    let default = Cost::default();
    let cost = Cost {
        memory_kib: env.parse_or("ARGON2_MEMORY_KIB", default.memory_kib)?,
        iterations: env.parse_or("ARGON2_ITERATIONS", default.iterations)?,
        parallelism: env.parse_or("ARGON2_PARALLELISM", default.parallelism)?,
    };
    Hasher::new(cost).map_err(|e| ConfigError::invalid("ARGON2_MEMORY_KIB", e))
}

/// What the register, login, refresh and logout functions share.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// The identity table.
    pub store: Store,
    /// Password hashing.
    pub hasher: Hasher,
    /// Lifetime of a session (refresh-token family).
    pub session_ttl: Duration,
    /// Login throttling.
    pub lockout: Policy,
}

impl Accounts {
    /// Builds the state from the environment: [`store_from_env`], [`hasher_from_env`],
    /// `SESSION_TTL_DAYS` (default 30), `LOGIN_MAX_FAILURES` (default 5) and `LOGIN_LOCK_SECONDS`
    /// (first lock, default 30).
    ///
    /// # Errors
    /// As the parts.
    pub async fn from_env(env: &Env) -> Result<Self, StartError> {
        Self::from_env_with(env, &aws_config().await)
    }

    /// [`Accounts::from_env`] with a given SDK configuration.
    ///
    /// # Errors
    /// As the parts.
    pub fn from_env_with(env: &Env, config: &aws_config::SdkConfig) -> Result<Self, StartError> {
        let default = Policy::default();
        Ok(Self {
            store: store_from_env(env, config)?,
            hasher: hasher_from_env(env)?,
            session_ttl: Duration::from_secs(env.parse_or("SESSION_TTL_DAYS", 30_u64)? * 86_400),
            lockout: Policy {
                max_failures: env.parse_or("LOGIN_MAX_FAILURES", default.max_failures)?,
                base_lock: Duration::from_secs(
                    env.parse_or("LOGIN_LOCK_SECONDS", default.base_lock.as_secs())?,
                ),
                ..default
            },
        })
    }
}
/// What the functions that issue tokens (login, refresh, password change) share: the accounts and
/// the signer.
#[derive(Debug, Clone)]
pub struct Issuing {
    /// The accounts.
    pub accounts: Accounts,
    /// Signs access tokens.
    pub tokens: TokenIssuer,
}

impl Issuing {
    /// [`Accounts::from_env`] and [`token_issuer_from_env`].
    ///
    /// # Errors
    /// As those.
    pub async fn from_env(env: &Env) -> Result<Self, StartError> {
        Self::from_env_with(env, &aws_config().await).await
    }

    /// [`Issuing::from_env`] with a given SDK configuration.
    ///
    /// # Errors
    /// As [`Issuing::from_env`].
    pub async fn from_env_with(
        env: &Env,
        config: &aws_config::SdkConfig,
    ) -> Result<Self, StartError> {
        Ok(Self {
            accounts: Accounts::from_env_with(env, config)?,
            tokens: token_issuer_from_env(env, config).await?,
        })
    }
}
