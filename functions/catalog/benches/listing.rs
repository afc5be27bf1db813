//! List and search latency through the local stack, DynamoDB calls per request, and the delay
//! from a product change to the cart's copy seeing it: `bench/catalog.sh`
//! (`cargo bench -p catalog --bench listing`).
//!
//! Builds the functions in release, starts the local stack on free ports, loads the demo catalog
//! (240 products in 8 categories), warms every function, then:
//! - sends `REQUESTS` (default 200) of each list and search query, one after another, and prints
//!   p50/p99 of the client-side latency and the emulator's DynamoDB calls per request;
//! - changes a product's price `CHANGES` times (default 50) and times how long until the cart's copy
//!   of the product has the new price (through the table's stream, the publisher, the topic, the
//!   queue and the consumer).

use std::time::{Duration, Instant};

use http::Method;
use local::{build::Profile, emulator, seed::SeedOptions, testing};
use serde_json::json;
use shared::config::Env;

const ADMIN_EMAIL: &str = "bench-admin@storefront.test";
const ADMIN_PASSWORD: &str = "benchmark-admin-password";

fn percentiles(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (pick(0.5), pick(0.99))
}

async fn dynamodb_calls(endpoint: &str) -> anyhow::Result<u64> {
    Ok(emulator::call_counts(endpoint)
        .await?
        .iter()
        .filter(|(operation, _)| operation.starts_with("DynamoDB_"))
        .map(|(_, n)| n)
        .sum())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let env = Env::from_process();
    let requests: usize = env.parse_or("REQUESTS", 200)?;
    let changes: usize = env.parse_or("CHANGES", 50)?;
    let stack = testing::spawn_with(|options| {
        options.profile = Profile::Release;
        let overrides = &mut options.parameter_overrides;
        overrides.insert("AdminEmail".into(), ADMIN_EMAIL.into());
        overrides.insert("AdminPassword".into(), ADMIN_PASSWORD.into());
        for limit in ["ApiRateLimit", "ApiBurstLimit"] {
            overrides.insert(limit.into(), "100000".into());
        }
    })
    .await?;
    eprintln!("loading the demo catalog...");
    let seeded = local::seed::seed(&SeedOptions {
        admin_email: ADMIN_EMAIL.into(),
        admin_password: ADMIN_PASSWORD.into(),
        progress: false,
        ..SeedOptions::new(stack.url(""))
    })
    .await?;
    let endpoint = stack.stack().emulator_endpoint().to_owned();
    let queries = [
        ("all, newest", "/v1/products?limit=20"),
        ("all, price_asc", "/v1/products?sort=price_asc&limit=20"),
        (
            "category (slug), price range, price_desc",
            "/v1/products?category=kitchen&minPrice=5000&maxPrice=30000&sort=price_desc&limit=20",
        ),
        (
            "category + seller, newest",
            "/v1/products?category=shoes&sellerId=SELLER&limit=20",
        ),
        (
            "price range, newest (filtered)",
            "/v1/products?minPrice=10000&maxPrice=20000&limit=20",
        ),
        ("search: one word", "/v1/products?q=shirt&limit=20"),
        (
            "search: two words, prefix",
            "/v1/products?q=blue%20sh&limit=20",
        ),
        (
            "search: word + category + sort",
            "/v1/products?q=demo&category=toys&sort=price_asc&limit=20",
        ),
    ];
    println!("| query | p50 | p99 | DynamoDB calls per request |");
    println!("|---|---|---|---|");
    for (label, path) in queries {
        let path = path.replace("SELLER", &seeded.seller_id);
        // Warm the function (and its cursor key) first.
        anyhow::ensure!(stack.get(&path).await?.status == 200, "{path}");
        let calls_before = dynamodb_calls(&endpoint).await?;
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let started = Instant::now();
            let answer = stack.get(&path).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(answer.status == 200, "{path}: {}", answer.status);
        }
        let calls = dynamodb_calls(&endpoint).await? - calls_before;
        let (p50, p99) = percentiles(times);
        println!(
            "| {label} | {p50:.1} ms | {p99:.1} ms | {:.2} |",
            calls as f64 / requests as f64
        );
    }

    // The delay from a price change to the cart's copy of the product.
    let product = seeded.products[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let table = stack
        .stack()
        .model()
        .table("CartTable")
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let dynamodb = aws_sdk_dynamodb::Client::new(stack.stack().sdk_config());
    let mut delays = Vec::with_capacity(changes);
    for i in 0..changes {
        let price = 70_000 + i as i64;
        let patched = testing::call(
            &stack,
            Method::PATCH,
            &format!("/v1/products/{product}"),
            Some(&seeded.seller_token),
            Some(&json!({"price": {"amount": price, "currency": "USD"}})),
            &[],
        )
        .await?;
        anyhow::ensure!(patched.status == 200, "patch: {}", patched.text());
        let changed = Instant::now();
        loop {
            let item = dynamodb
                .get_item()
                .table_name(&table)
                .key(
                    "pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(format!("PRODUCT#{product}")),
                )
                .key(
                    "sk",
                    aws_sdk_dynamodb::types::AttributeValue::S("PRODUCT".into()),
                )
                .send()
                .await?
                .item;
            let seen = item
                .and_then(|i| i.get("price").cloned())
                .and_then(|p| p.as_m().ok().and_then(|m| m.get("amount").cloned()))
                .and_then(|a| a.as_n().ok().and_then(|n| n.parse::<i64>().ok()));
            if seen == Some(price) {
                break;
            }
            anyhow::ensure!(
                changed.elapsed() < Duration::from_secs(30),
                "the cart never saw price {price}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        delays.push(changed.elapsed().as_secs_f64() * 1000.0);
    }
    let (p50, p99) = percentiles(delays);
    println!();
    println!(
        "product change -> cart's copy ({changes} price changes, release): p50 {p50:.0} ms, p99 {p99:.0} ms"
    );
    stack.shutdown().await;
    Ok(())
}
