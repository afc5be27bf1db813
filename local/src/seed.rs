//! A demo catalog loaded through the public API: categories (as the first admin), a seller, and
//! products with stock (as the seller).
//!
//! It is safe to run again: categories and the seller are found again, and every product is
//! created with an `Idempotency-Key` derived from its number, so a second run creates nothing new
//! and only sets the stock again.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::StreamExt as _;
use http::Method;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// The seller who owns the demo catalog.
pub const SELLER_EMAIL: &str = "seller@storefront.local";
/// Their password.
pub const SELLER_PASSWORD: &str = "demo-seller-password";
/// The first admin `up --seed` creates when no `AdminEmail` is given.
pub const ADMIN_EMAIL: &str = "admin@storefront.local";
/// Their password.
pub const ADMIN_PASSWORD: &str = "demo-admin-password";
/// Requests in flight at once.
const CONCURRENCY: usize = 8;

/// What to seed, and as whom.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// The API's base URL.
    pub url: String,
    /// The first admin's email (creates the categories and makes the seller a seller).
    pub admin_email: String,
    /// The first admin's password.
    pub admin_password: String,
    /// How many products.
    pub products: usize,
    /// Print a progress bar on stderr.
    pub progress: bool,
}

impl SeedOptions {
    /// 240 products at `url`, as the demo admin.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            admin_email: ADMIN_EMAIL.into(),
            admin_password: ADMIN_PASSWORD.into(),
            products: 240,
            progress: true,
        }
    }
}

/// What was seeded.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// The seller's user id.
    pub seller_id: String,
    /// The seller's access token.
    pub seller_token: String,
    /// The admin's access token.
    pub admin_token: String,
    /// The categories, as the API answered them.
    pub categories: Vec<Value>,
    /// The products, as the API answered them.
    pub products: Vec<Value>,
}

/// The demo categories: slug, name, and the nouns of their products.
const CATEGORIES: &[(&str, &str, &[&str])] = &[
    (
        "shirts",
        "Shirts",
        &[
            "Oxford Shirt",
            "Flannel Shirt",
            "Linen Shirt",
            "Polo Shirt",
            "Denim Shirt",
        ],
    ),
    (
        "shoes",
        "Shoes",
        &[
            "Sneakers",
            "Loafers",
            "Hiking Boots",
            "Sandals",
            "Running Shoes",
        ],
    ),
    (
        "kitchen",
        "Kitchen",
        &[
            "Café Mug",
            "Crème Brûlée Torch",
            "Jalapeño Grill Pan",
            "Chef Knife",
            "Cutting Board",
        ],
    ),
    (
        "books",
        "Books",
        &["Notebook", "Cookbook", "Atlas", "Field Guide", "Sketchbook"],
    ),
    (
        "toys",
        "Toys",
        &["Puzzle", "Kite", "Building Blocks", "Rubber Duck", "Yo-Yo"],
    ),
    (
        "garden",
        "Garden",
        &[
            "Watering Can",
            "Trowel",
            "Planter",
            "Hose Reel",
            "Pruning Shears",
        ],
    ),
    (
        "outdoors",
        "Outdoors",
        &["Tent", "Sleeping Bag", "Lantern", "Backpack", "Hammock"],
    ),
    (
        "electronics",
        "Electronics",
        &["Headphones", "Speaker", "Charger", "Desk Lamp", "Keyboard"],
    ),
];

const COLORS: &[&str] = &[
    "Blue", "Red", "Green", "Black", "White", "Yellow", "Grey", "Navy",
];
const STYLES: &[&str] = &[
    "Classic", "Deluxe", "Compact", "Vintage", "Everyday", "Premium",
];

/// The demo product number `i` of the catalog: its category index and its body (without the
/// category id).
pub fn demo_product(i: usize) -> (usize, Value) {
    let category = i % CATEGORIES.len();
    let (slug, _, nouns) = CATEGORIES[category];
    let round = i / CATEGORIES.len();
    let noun = nouns[round % nouns.len()];
    let color = COLORS[(round * 3 + category) % COLORS.len()];
    let style = STYLES[(round / 2 + category) % STYLES.len()];
    // A deterministic spread of prices from $1.99 to $499.99.
    let price = 199 + ((i as u64 * 7919 + 104_729) % 49_800) as i64;
    let body = json!({
        "name": format!("{style} {color} {noun}"),
        "description": format!("A {} {} for every day. Demo product number {i}.", color.to_lowercase(), noun.to_lowercase()),
        "price": {"amount": price, "currency": "USD"},
        "images": [format!("https://cdn.example.com/seed/{slug}-{i}.jpg")],
        "attributes": {"color": color.to_lowercase(), "style": style.to_lowercase()},
    });
    (category, body)
}

/// Units in stock of demo product `i`.
pub fn demo_stock(i: usize) -> u64 {
    ((i * 37) % 60 + 3) as u64
}

struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    url: String,
}

struct Answer {
    status: u16,
    body: Value,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Answer> {
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .header("x-correlation-id", "seed");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let response = self
            .client
            .request(request.body(Full::new(bytes))?)
            .await
            .with_context(|| format!("{method} {path}: is the stack up at {}?", self.url))?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    async fn login(&self, email: &str, password: &str) -> anyhow::Result<Value> {
        let answer = self
            .call(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(&json!({"email": email, "password": password})),
                &[],
            )
            .await?;
        if answer.status != 200 {
            bail!("log in as {email}: {} {}", answer.status, answer.body);
        }
        Ok(answer.body)
    }
}

fn token(login: &Value) -> anyhow::Result<String> {
    login["accessToken"]
        .as_str()
        .map(str::to_owned)
        .context("the login answer has no accessToken")
}

struct Progress {
    enabled: bool,
    total: usize,
    started: Instant,
}

impl Progress {
    fn show(&self, label: &str, done: usize) {
        if !self.enabled {
            return;
        }
        const WIDTH: usize = 30;
        let filled = (done * WIDTH).checked_div(self.total).unwrap_or(WIDTH);
        let mut stderr = std::io::stderr();
        let _ = write!(
            stderr,
            "\r{label:<10} [{}{}] {done}/{} {:.1}s",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        if done == self.total {
            let _ = writeln!(stderr);
        }
    }
}

/// Loads the demo catalog (see the [module docs](self)).
///
/// # Errors
/// When the API refuses a step (the admin cannot log in, a product is refused, stock cannot be
/// set within a minute).
pub async fn seed(options: &SeedOptions) -> anyhow::Result<Seeded> {
    let api = Api {
        client: Client::builder(TokioExecutor::new()).build_http(),
        url: options.url.trim_end_matches('/').to_owned(),
    };
    let admin = token(
        &api.login(&options.admin_email, &options.admin_password)
            .await
            .with_context(|| {
                "the first admin is needed to create categories: start the stack with \
         --parameter AdminEmail=... --parameter AdminPassword=... (or `up --seed`)"
            })?,
    )?;

    // Categories: created, or found again on a second run.
    let mut categories = Vec::new();
    for (slug, name, _) in CATEGORIES {
        let created = api
            .call(Method::POST, "/v1/categories", Some(&admin), Some(&json!({"slug": slug, "name": name, "description": format!("Demo {}.", name.to_lowercase())})), &[])
            .await?;
        match created.status {
            201 => categories.push(created.body),
            409 => {}
            status => bail!("create category {slug}: {status} {}", created.body),
        }
    }
    if categories.len() < CATEGORIES.len() {
        let listed = api
            .call(Method::GET, "/v1/categories?limit=100", None, None, &[])
            .await?;
        categories = listed.body["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| CATEGORIES.iter().any(|(slug, _, _)| c["slug"] == *slug))
            .collect();
    }
    let category_id = |slug: &str| {
        categories
            .iter()
            .find(|c| c["slug"] == slug)
            .and_then(|c| c["id"].as_str())
            .map(str::to_owned)
    };

    // The seller: registered once, made a seller by the admin, then logged in again so the token
    // carries the role.
    let registered = api
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(
                &json!({"email": SELLER_EMAIL, "password": SELLER_PASSWORD, "name": "Demo Seller"}),
            ),
            &[],
        )
        .await?;
    if registered.status != 202 {
        bail!(
            "register the seller: {} {}",
            registered.status,
            registered.body
        );
    }
    let login = api.login(SELLER_EMAIL, SELLER_PASSWORD).await?;
    let seller_id = login["user"]["id"]
        .as_str()
        .context("the login answer has no user id")?
        .to_owned();
    if login["user"]["role"] != "seller" {
        let promoted = api
            .call(
                Method::PUT,
                &format!("/v1/admin/users/{seller_id}/role"),
                Some(&admin),
                Some(&json!({"role": "seller"})),
                &[],
            )
            .await?;
        if promoted.status != 200 {
            bail!(
                "make the seller a seller: {} {}",
                promoted.status,
                promoted.body
            );
        }
    }
    let seller = token(&api.login(SELLER_EMAIL, SELLER_PASSWORD).await?)?;

    // Products, several at a time; the idempotency key makes a second run find them again.
    let mut progress = Progress {
        enabled: options.progress,
        total: options.products,
        started: Instant::now(),
    };
    let mut jobs = Vec::with_capacity(options.products);
    for i in 0..options.products {
        let (category, mut body) = demo_product(i);
        let slug = CATEGORIES[category].0;
        body["categoryId"] =
            json!(category_id(slug).with_context(|| format!("no category {slug}"))?);
        jobs.push((i, body));
    }
    let mut created = futures::stream::iter(jobs.into_iter().map(|(i, body)| {
        let api = &api;
        let seller = &seller;
        async move {
            let key = format!("seed-product-{i}");
            let answer = api
                .call(
                    Method::POST,
                    "/v1/products",
                    Some(seller),
                    Some(&body),
                    &[("idempotency-key", &key)],
                )
                .await?;
            if answer.status != 201 {
                bail!("create product {i}: {} {}", answer.status, answer.body);
            }
            Ok::<_, anyhow::Error>((i, answer.body))
        }
    }))
    .buffer_unordered(CONCURRENCY);
    let mut products = vec![Value::Null; options.products];
    let mut done = 0;
    progress.show("products", 0);
    while let Some(result) = created.next().await {
        let (i, product) = result?;
        products[i] = product;
        done += 1;
        progress.show("products", done);
    }
    drop(created);

    // Stock: inventory learns each product from the catalog's events, so a product just created
    // may be unknown to it for a moment.
    progress.started = Instant::now();
    progress.show("stock", 0);
    let mut stocked = futures::stream::iter(products.iter().enumerate().map(|(i, product)| {
        let api = &api;
        let seller = &seller;
        async move {
            let id = product["id"]
                .as_str()
                .context("a created product has no id")?;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let answer = api
                    .call(
                        Method::PUT,
                        &format!("/v1/inventory/{id}"),
                        Some(seller),
                        Some(&json!({"available": demo_stock(i), "reason": "demo catalog"})),
                        &[],
                    )
                    .await?;
                match answer.status {
                    200 => return Ok::<_, anyhow::Error>(()),
                    404 if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                    status => bail!("set the stock of product {i}: {status} {}", answer.body),
                }
            }
        }
    }))
    .buffer_unordered(CONCURRENCY);
    let mut done = 0;
    while let Some(result) = stocked.next().await {
        result?;
        done += 1;
        progress.show("stock", done);
    }
    drop(stocked);

    Ok(Seeded {
        seller_id,
        seller_token: seller,
        admin_token: admin,
        categories,
        products,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_products_are_deterministic_and_spread() {
        assert_eq!(demo_product(17), demo_product(17));
        let prices: std::collections::BTreeSet<i64> = (0..240)
            .map(|i| demo_product(i).1["price"]["amount"].as_i64().unwrap())
            .collect();
        assert!(prices.len() > 200, "prices repeat too often");
        assert!(prices.iter().all(|p| (199..=49_999).contains(p)));
        let categories: std::collections::BTreeSet<usize> =
            (0..240).map(|i| demo_product(i).0).collect();
        assert_eq!(categories.len(), CATEGORIES.len());
    }
}
