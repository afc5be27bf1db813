//! Reading the seeded demo catalog through the local stack: every filter, sort and combination
//! against a brute-force computation over the seeded products, keyword search on named cases,
//! cursors, and cacheable answers. These tests only read, so they share one seeded stack.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use catalog::search::{self, Term};
use http::Method;
use local::seed::{SeedOptions, Seeded};
use local::testing::{self, SharedStack, TestResponse, call};
use serde_json::Value;
use tokio::sync::OnceCell;

struct Catalog {
    stack: &'static SharedStack,
    seeded: Seeded,
}

static CATALOG: OnceCell<Catalog> = OnceCell::const_new();

/// The shared stack, with the demo catalog loaded once.
async fn catalog() -> &'static Catalog {
    CATALOG
        .get_or_init(|| async {
            let (stack, _) = testing::shared_shop(&[]).await.unwrap();
            let seeded = local::seed::seed(&SeedOptions {
                admin_email: testing::ADMIN_EMAIL.into(),
                admin_password: testing::ADMIN_PASSWORD.into(),
                products: 240,
                progress: false,
                ..SeedOptions::new(stack.url(""))
            })
            .await
            .unwrap();
            Catalog { stack, seeded }
        })
        .await
}

/// `GET path`; and every event the stack has published so far (the seed's among them) matches its
/// schema.
async fn get(stack: &SharedStack, path: &str) -> TestResponse {
    let answer = call(stack, Method::GET, path, None, None, &[])
        .await
        .unwrap();
    let broken = stack.events().problems();
    assert!(
        broken.is_empty(),
        "events that break their schema: {broken:?}"
    );
    answer
}

/// Every page of `query`, `limit` at a time: the product ids in the order served.
async fn walk(stack: &SharedStack, query: &str, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut path = format!("/v1/products?limit={limit}&{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(cursor)));
        }
        let page = get(stack, &path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text());
        let body = page.json();
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        ids.extend(items.iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        match body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
    panic!("{query}: more than 1000 pages");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Product {
    id: String,
    name: String,
    description: String,
    price: i64,
    category: String,
    seller: String,
}

fn products(seeded: &Seeded) -> Vec<Product> {
    seeded
        .products
        .iter()
        .map(|p| Product {
            id: p["id"].as_str().unwrap().to_owned(),
            name: p["name"].as_str().unwrap().to_owned(),
            description: p["description"].as_str().unwrap().to_owned(),
            price: p["price"]["amount"].as_i64().unwrap(),
            category: p["categoryId"].as_str().unwrap().to_owned(),
            seller: p["sellerId"].as_str().unwrap().to_owned(),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sort {
    Newest,
    PriceAsc,
    PriceDesc,
}

impl Sort {
    fn param(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::PriceAsc => "price_asc",
            Sort::PriceDesc => "price_desc",
        }
    }
}

/// Orders products as the API promises: newest first, or by price with the id breaking ties.
fn order(a: &Product, b: &Product, sort: Sort) -> std::cmp::Ordering {
    match sort {
        Sort::Newest => b.id.cmp(&a.id),
        Sort::PriceAsc => (a.price, &a.id).cmp(&(b.price, &b.id)),
        Sort::PriceDesc => (b.price, &b.id).cmp(&(a.price, &a.id)),
    }
}

#[derive(Debug, Default, Clone)]
struct Filter {
    category: Option<String>,
    category_param: Option<String>,
    seller: Option<String>,
    min: Option<i64>,
    max: Option<i64>,
}

impl Filter {
    fn admits(&self, p: &Product) -> bool {
        self.category.as_ref().is_none_or(|c| *c == p.category)
            && self.seller.as_ref().is_none_or(|s| *s == p.seller)
            && self.min.is_none_or(|m| p.price >= m)
            && self.max.is_none_or(|m| p.price <= m)
    }

    fn query(&self, sort: Sort) -> String {
        let mut query = format!("sort={}", sort.param());
        if let Some(c) = &self.category_param {
            query.push_str(&format!("&category={c}"));
        }
        if let Some(s) = &self.seller {
            query.push_str(&format!("&sellerId={s}"));
        }
        if let Some(m) = self.min {
            query.push_str(&format!("&minPrice={m}"));
        }
        if let Some(m) = self.max {
            query.push_str(&format!("&maxPrice={m}"));
        }
        query
    }
}

fn expected(all: &[Product], filter: &Filter, sort: Sort) -> Vec<String> {
    let mut matching: Vec<&Product> = all.iter().filter(|p| filter.admits(p)).collect();
    matching.sort_by(|a, b| order(a, b, sort));
    matching.iter().map(|p| p.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_filter_sort_and_combination_matches_a_brute_force_computation() {
    let catalog = catalog().await;
    let all = products(&catalog.seeded);
    assert!(all.len() >= 200);
    let shirts = catalog
        .seeded
        .categories
        .iter()
        .find(|c| c["slug"] == "shirts")
        .unwrap();
    let kitchen = catalog
        .seeded
        .categories
        .iter()
        .find(|c| c["slug"] == "kitchen")
        .unwrap();
    let seller = catalog.seeded.seller_id.clone();
    let scopes = [
        Filter::default(),
        Filter {
            category: Some(shirts["id"].as_str().unwrap().to_owned()),
            category_param: Some("shirts".into()),
            ..Filter::default()
        },
        Filter {
            category: Some(kitchen["id"].as_str().unwrap().to_owned()),
            category_param: Some(kitchen["id"].as_str().unwrap().to_owned()),
            ..Filter::default()
        },
        Filter {
            seller: Some(seller.clone()),
            ..Filter::default()
        },
        Filter {
            category: Some(kitchen["id"].as_str().unwrap().to_owned()),
            category_param: Some("kitchen".into()),
            seller: Some(seller.clone()),
            ..Filter::default()
        },
        Filter {
            seller: Some(uuid::Uuid::now_v7().to_string()),
            ..Filter::default()
        },
    ];
    let ranges = [
        (None, None),
        (Some(5_000), None),
        (None, Some(20_000)),
        (Some(10_000), Some(30_000)),
    ];
    let mut combinations = 0;
    for scope in &scopes {
        for (min, max) in ranges {
            for sort in [Sort::Newest, Sort::PriceAsc, Sort::PriceDesc] {
                let filter = Filter {
                    min,
                    max,
                    ..scope.clone()
                };
                let query = filter.query(sort);
                let served = walk(catalog.stack, &query, 45).await;
                assert_eq!(served, expected(&all, &filter, sort), "{query}");
                combinations += 1;
            }
        }
    }
    assert_eq!(combinations, 72);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn walking_every_page_returns_every_product_exactly_once() {
    let catalog = catalog().await;
    let all: BTreeSet<String> = products(&catalog.seeded)
        .into_iter()
        .map(|p| p.id)
        .collect();
    for (limit, sort) in [(1, "newest"), (7, "price_asc"), (100, "price_desc")] {
        let served = walk(catalog.stack, &format!("sort={sort}"), limit).await;
        let distinct: BTreeSet<String> = served.iter().cloned().collect();
        assert_eq!(
            distinct.len(),
            served.len(),
            "no product twice ({sort}, limit {limit})"
        );
        assert_eq!(distinct, all, "every product ({sort}, limit {limit})");
    }
}

/// The products a search must return, in order, computed from the products' own text.
fn search_expected(all: &[Product], q: &str, filter: &Filter, sort: Sort) -> Vec<String> {
    let terms = search::query_terms(q).unwrap();
    let mut scored: Vec<(usize, &Product)> = all
        .iter()
        .filter(|p| filter.admits(p))
        .map(|p| {
            let words = search::index_terms(&p.name, &p.description);
            let score = terms
                .iter()
                .filter(|t| match t {
                    Term::Exact(w) => words.contains(w),
                    Term::Prefix(prefix) => words.iter().any(|w| w.starts_with(prefix.as_str())),
                })
                .count();
            (score, p)
        })
        .filter(|(score, _)| *score > 0)
        .collect();
    scored.sort_by(|(sa, a), (sb, b)| sb.cmp(sa).then_with(|| order(a, b, sort)));
    scored.iter().map(|(_, p)| p.id.clone()).collect()
}

fn names(all: &[Product], ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|id| all.iter().find(|p| p.id == *id).unwrap().name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyword_search_folds_case_and_accents_prefixes_the_last_word_and_ranks_by_matches() {
    let catalog = catalog().await;
    let stack = catalog.stack;
    let all = products(&catalog.seeded);

    // Accents and case fold away: "cafe", "CAFÉ" and "Café" find the same products, all of them.
    let cafes: BTreeSet<String> = all
        .iter()
        .filter(|p| p.name.contains("Café"))
        .map(|p| p.id.clone())
        .collect();
    assert!(!cafes.is_empty());
    for q in ["cafe", "CAFÉ", "Café", "caf"] {
        let found: BTreeSet<String> = walk(stack, &format!("q={}", urlencode(q)), 100)
            .await
            .into_iter()
            .collect();
        assert_eq!(found, cafes, "q={q}");
    }
    let torches = walk(stack, "q=creme%20brulee%20", 100).await;
    assert!(!torches.is_empty());
    assert!(
        names(&all, &torches)
            .iter()
            .all(|n| n.contains("Crème Brûlée"))
    );

    // The last word is a prefix: "blu shi" finds every blue shirt (among every "shi..." word).
    let blue_shirts: BTreeSet<String> = all
        .iter()
        .filter(|p| p.name.contains("Blue") && p.name.contains("Shirt"))
        .map(|p| p.id.clone())
        .collect();
    assert!(!blue_shirts.is_empty());
    let found: BTreeSet<String> = walk(stack, "q=blu%20shi", 100).await.into_iter().collect();
    assert!(found.is_superset(&blue_shirts));

    // Ranked by matched words: products with both words come first.
    let ranked = walk(stack, "q=blue%20shirt", 100).await;
    let both = blue_shirts.len();
    let head: BTreeSet<String> = ranked[..both].iter().cloned().collect();
    assert_eq!(head, blue_shirts, "both words first");
    assert!(ranked.len() > both, "then products with one of them");

    // Stop words are dropped; a query of stop words finds nothing.
    assert_eq!(
        walk(stack, "q=the%20shirt%20", 100).await,
        walk(stack, "q=shirt%20", 100).await
    );
    assert!(walk(stack, "q=the%20of%20and%20", 100).await.is_empty());
    let nothing = get(stack, "/v1/products?q=%20%2C%3B").await;
    assert_eq!(
        (
            nothing.status,
            nothing.json()["items"].as_array().unwrap().len()
        ),
        (200, 0)
    );

    // Every page of a search, with filters and a sort, matches the brute force too.
    let kitchen = catalog
        .seeded
        .categories
        .iter()
        .find(|c| c["slug"] == "kitchen")
        .unwrap();
    let cases = [
        ("demo", Filter::default(), Sort::Newest),
        ("demo product", Filter::default(), Sort::PriceAsc),
        (
            "blue shirt",
            Filter {
                max: Some(25_000),
                ..Filter::default()
            },
            Sort::PriceDesc,
        ),
        (
            "classic mug",
            Filter {
                category: Some(kitchen["id"].as_str().unwrap().to_owned()),
                category_param: Some("kitchen".into()),
                ..Filter::default()
            },
            Sort::PriceAsc,
        ),
    ];
    for (q, filter, sort) in cases {
        let query = format!("q={}&{}", urlencode(q), filter.query(sort));
        let served = walk(stack, &query, 33).await;
        assert_eq!(served, search_expected(&all, q, &filter, sort), "{query}");
    }
    let long = get(
        stack,
        "/v1/products?q=a%20b%20c%20d%20e%20f%20g%20h%20i%20j",
    )
    .await;
    assert_eq!(long.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tampered_or_foreign_cursor_is_a_400() {
    let catalog = catalog().await;
    let stack = catalog.stack;
    for list in [
        "/v1/products?limit=5&sort=price_asc",
        "/v1/products?limit=5&q=demo",
        "/v1/categories?limit=2",
    ] {
        let page = get(stack, list).await.json();
        let cursor = page["nextCursor"].as_str().unwrap().to_owned();
        let mut tampered = cursor.clone().into_bytes();
        let i = tampered.len() / 3;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for bad in [tampered.as_str(), "garbage", "e30.AAAA", &"x".repeat(5000)] {
            let answer = get(stack, &format!("{list}&cursor={}", urlencode(bad))).await;
            assert_eq!(answer.status, 400, "{list} with {bad:.40}");
            assert_eq!(answer.json()["code"], "INVALID_CURSOR");
            assert_eq!(
                answer.header("content-type"),
                Some("application/problem+json")
            );
        }
        // A cursor of one list does not work on another.
        let other = get(
            stack,
            &format!(
                "/v1/products?limit=5&sort=newest&cursor={}",
                urlencode(&cursor)
            ),
        )
        .await;
        assert_eq!(other.status, 400, "{list}'s cursor on another list");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn public_reads_carry_a_strong_etag_and_revalidate_with_a_304() {
    let catalog = catalog().await;
    let stack = catalog.stack;
    let product = &catalog.seeded.products[0];
    let id = product["id"].as_str().unwrap();
    for path in [
        "/v1/products?category=shoes&sort=price_asc".to_owned(),
        format!("/v1/products/{id}"),
        "/v1/categories".to_owned(),
        "/v1/products?q=demo".to_owned(),
    ] {
        let first = get(stack, &path).await;
        assert_eq!(first.status, 200, "{path}");
        let cache = first.header("cache-control").unwrap();
        assert!(cache.starts_with("public, max-age="), "{path}: {cache}");
        let etag = first.header("etag").unwrap().to_owned();
        assert!(
            etag.starts_with('"') && !etag.starts_with("W/"),
            "{path}: strong {etag}"
        );
        let again = call(
            stack,
            Method::GET,
            &path,
            None,
            None,
            &[("if-none-match", &etag)],
        )
        .await
        .unwrap();
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        let stale = call(
            stack,
            Method::GET,
            &path,
            None,
            None,
            &[("if-none-match", "\"stale\"")],
        )
        .await
        .unwrap();
        assert_eq!(stale.status, 200, "{path}");
    }
    let single = get(stack, &format!("/v1/products/{id}")).await;
    assert_eq!(
        single.header("etag"),
        Some(format!("\"v{}\"", product["version"]).as_str())
    );
    let body: Value = single.json();
    assert_eq!(body["id"], id);
}
