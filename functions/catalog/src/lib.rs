//! The catalog service: products, categories, listing with filters and sorts, and keyword search.
//!
//! - Public, cacheable reads: `GET /v1/products` ([`handlers::list_products`], filters, sorts and
//!   search), `GET /v1/products/{productId}` ([`handlers::get_product`]) and `GET /v1/categories`
//!   ([`handlers::list_categories`]).
//! - Sellers and admins: `POST /v1/products`, `PATCH`/`DELETE /v1/products/{productId}` (delete
//!   archives), `GET /v1/seller/products` (their own products, archived ones included).
//! - Admins: `POST /v1/categories`, `PATCH`/`DELETE /v1/categories/{categoryId}`.
//! - The publisher ([`shared::outbox::Publisher`]) sends the table's outbox events (`ProductChanged`)
//!   to the domain-events topic.
//!
//! The service owns one DynamoDB table (layout in [`store`]); search terms are made by [`search`].

pub mod api;
pub mod domain;
pub mod handlers;
pub mod search;
pub mod store;

use shared::{
    config::{ConfigError, Env, StartError},
    money::Currency,
    pagination::CursorCodec,
};

use crate::store::Store;

/// What every catalog HTTP function shares.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The catalog table.
    pub store: Store,
    /// The currency every price is in (`CURRENCY`, default USD).
    pub currency: Currency,
    /// Seconds shared caches may keep public answers (`CACHE_MAX_AGE_SECONDS`, default 30).
    pub cache_max_age: u32,
}

impl Catalog {
    /// Builds the state from `TABLE_NAME`, `CURRENCY` and `CACHE_MAX_AGE_SECONDS`.
    ///
    /// # Errors
    /// A missing or malformed variable.
    pub fn from_env(env: &Env, config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let currency = env.currency()?;
        Ok(Self {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(config),
                env.required("TABLE_NAME")?,
            ),
            currency,
            cache_max_age: env.parse_or("CACHE_MAX_AGE_SECONDS", 30)?,
        })
    }

    /// [`Catalog::from_env`] with a fresh SDK configuration.
    ///
    /// # Errors
    /// As [`Catalog::from_env`].
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        Ok(Self::from_env(env, &shared::config::aws().await)?)
    }
}

/// The state of the functions that return lists: the catalog and the cursor key.
#[derive(Debug, Clone)]
pub struct Lists {
    /// The catalog.
    pub catalog: Catalog,
    /// Signs and checks `nextCursor`s.
    pub cursors: CursorCodec,
}

impl Lists {
    /// [`Catalog::from_env`] plus the cursor key from the secret named by `CURSOR_KEY_ARN`.
    ///
    /// # Errors
    /// A missing variable or an unreadable secret.
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        let config = shared::config::aws().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        Ok(Self {
            catalog: Catalog::from_env(env, &config)?,
            cursors: shared::secrets::cursor_codec(&secrets, &env.required("CURSOR_KEY_ARN")?)
                .await?,
        })
    }
}
