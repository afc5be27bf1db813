//! `GET /v1/products`: active products, filtered, sorted, searched and paginated. Cacheable.
//!
//! Query parameters, all optional and combinable:
//! - `category`: a category id or slug; `sellerId`;
//! - `minPrice`, `maxPrice`: whole minor units, inclusive;
//! - `sort`: `newest` (default), `price_asc`, `price_desc`;
//! - `q`: keyword search (see [`crate::search`]); results are ranked by how many of its words
//!   match, then by `sort`;
//! - `limit` (1 to 100, default 20) and `cursor` (the previous page's `nextCursor`).
//!
//! Without `q` a page is one or a few Query calls on the index that serves the filters
//! ([`crate::store`]); with `q`, one Query per word on the search terms, then one BatchGetItem for
//! the page.

use std::{
    cmp::Ordering,
    collections::{HashMap, HashSet},
};

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError, RequestContext,
    events::catalog::ProductStatus,
    http::{self, Caching, query_param},
    ids::parse_id,
    money::MAX_AMOUNT,
    pagination::{Page, PageRequest},
};
use uuid::Uuid;

use crate::{
    Lists,
    domain::{Product, Slug},
    handlers::bad_query,
    search::{self, Term},
    store::{Filters, Sort, TermMatch},
};

/// Longest accepted `q`, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// A parsed list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    /// The filters; `category` still unresolved when given as a slug.
    pub filters: Filters,
    /// A category slug to resolve.
    pub category_slug: Option<Slug>,
    /// The order.
    pub sort: Sort,
    /// The search terms (empty: no search).
    pub terms: Vec<Term>,
    /// Whether `q` was given.
    pub searching: bool,
    /// Paging.
    pub page: PageRequest,
}

fn price_param(req: &Request, name: &str) -> Result<Option<i64>, ApiError> {
    query_param(req, name)
        .map(|raw| {
            raw.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=MAX_AMOUNT).contains(n))
                .ok_or_else(|| {
                    bad_query(
                        name,
                        format!("must be a whole number of minor units from 0 to {MAX_AMOUNT}"),
                    )
                })
        })
        .transpose()
}

/// Reads the query string.
///
/// # Errors
/// 400 for a malformed parameter.
pub fn parse(req: &Request) -> Result<ListRequest, ApiError> {
    let mut filters = Filters::default();
    let mut category_slug = None;
    if let Some(raw) = query_param(req, "category") {
        match parse_id(raw) {
            Some(id) => filters.category = Some(id),
            None => {
                category_slug = Some(
                    Slug::parse(raw)
                        .map_err(|_| bad_query("category", "must be a category id or slug"))?,
                );
            }
        }
    }
    if let Some(raw) = query_param(req, "sellerId") {
        filters.seller =
            Some(parse_id(raw).ok_or_else(|| bad_query("sellerId", "must be a user id"))?);
    }
    filters.min_price = price_param(req, "minPrice")?;
    filters.max_price = price_param(req, "maxPrice")?;
    if let (Some(min), Some(max)) = (filters.min_price, filters.max_price)
        && min > max
    {
        return Err(bad_query("minPrice", "must not exceed maxPrice"));
    }
    let sort = match query_param(req, "sort") {
        None => Sort::default(),
        Some(raw) => Sort::parse(raw)
            .ok_or_else(|| bad_query("sort", "must be newest, price_asc or price_desc"))?,
    };
    let q = query_param(req, "q");
    if q.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
        return Err(bad_query(
            "q",
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let terms = match q {
        Some(q) => search::query_terms(q).map_err(|e| bad_query("q", e.to_string()))?,
        None => Vec::new(),
    };
    Ok(ListRequest {
        filters,
        category_slug,
        sort,
        terms,
        searching: q.is_some(),
        page: PageRequest::from_request(req)?,
    })
}

/// The scope a cursor is valid for: the list and every parameter that shapes it.
fn scope(request: &ListRequest) -> String {
    let f = &request.filters;
    let opt = |v: Option<String>| v.unwrap_or_default();
    let terms: Vec<String> = request
        .terms
        .iter()
        .map(|t| match t {
            Term::Exact(w) => format!("={w}"),
            Term::Prefix(w) => format!("^{w}"),
        })
        .collect();
    format!(
        "products:{}:{}:{}:{}:{}:{}:{}",
        request.sort.as_str(),
        opt(f.category.map(|c| c.to_string())),
        opt(f.seller.map(|s| s.to_string())),
        opt(f.min_price.map(|p| p.to_string())),
        opt(f.max_price.map(|p| p.to_string())),
        request.searching,
        terms.join(" "),
    )
}

/// Where a search page ends: the ranking key of its last product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct SearchPosition {
    score: u32,
    price: i64,
    id: Uuid,
}

/// The ranking of search results: more matched words first, then `sort`.
fn rank(sort: Sort, a: &SearchPosition, b: &SearchPosition) -> Ordering {
    b.score.cmp(&a.score).then_with(|| match sort {
        Sort::Newest => b.id.cmp(&a.id),
        Sort::PriceAsc => (a.price, a.id).cmp(&(b.price, b.id)),
        Sort::PriceDesc => (b.price, b.id).cmp(&(a.price, a.id)),
    })
}

/// Ranks what the search terms matched, after the filters: one entry per product.
fn ranked(matches: &[(usize, TermMatch)], filters: &Filters, sort: Sort) -> Vec<SearchPosition> {
    let mut by_product: HashMap<Uuid, (HashSet<usize>, i64)> = HashMap::new();
    for (term, m) in matches {
        if filters.admits(m.category_id, m.seller_id, m.price_amount) {
            by_product
                .entry(m.product_id)
                .or_insert_with(|| (HashSet::new(), m.price_amount))
                .0
                .insert(*term);
        }
    }
    let mut positions: Vec<SearchPosition> = by_product
        .into_iter()
        .map(|(id, (terms, price))| SearchPosition {
            score: u32::try_from(terms.len()).unwrap_or(u32::MAX),
            price,
            id,
        })
        .collect();
    positions.sort_by(|a, b| rank(sort, a, b));
    positions
}

async fn search(
    lists: &Lists,
    request: &ListRequest,
    scope: &str,
) -> Result<Page<Product>, ApiError> {
    let after: Option<SearchPosition> = request
        .page
        .cursor
        .as_deref()
        .map(|c| lists.cursors.decode(scope, c))
        .transpose()?;
    let mut matches = Vec::new();
    for (i, term) in request.terms.iter().enumerate() {
        let (found, capped) = lists.catalog.store.term_matches(term).await?;
        if capped {
            tracing::warn!(
                term = term.text(),
                "search term matched more products than are read"
            );
        }
        matches.extend(found.into_iter().map(|m| (i, m)));
    }
    let positions = ranked(&matches, &request.filters, request.sort);
    let start = after.map_or(0, |after| {
        positions.partition_point(|p| rank(request.sort, p, &after) != Ordering::Greater)
    });
    let limit = request.page.limit as usize;
    let page: Vec<SearchPosition> = positions.iter().skip(start).take(limit).copied().collect();
    let more = start + page.len() < positions.len();
    let ids: Vec<Uuid> = page.iter().map(|p| p.id).collect();
    let items: Vec<Product> = lists
        .catalog
        .store
        .products(&ids)
        .await?
        .into_iter()
        // Archived since its terms were read.
        .filter(|p| p.status == ProductStatus::Active)
        .collect();
    let next_cursor = match page.last() {
        Some(last) if more => Some(lists.cursors.encode(scope, last)?),
        _ => None,
    };
    Ok(Page { items, next_cursor })
}

async fn list(
    lists: &Lists,
    request: &ListRequest,
    scope: &str,
) -> Result<Page<Product>, ApiError> {
    let start = lists.cursors.start_key(scope, &request.page)?;
    let page = lists
        .catalog
        .store
        .list_products(
            &request.filters,
            request.sort,
            request.page.limit as usize,
            start,
        )
        .await?;
    lists.cursors.page(scope, page.items, page.next.as_ref())
}

/// Answers 200 with a page of products, a strong `ETag` and `Cache-Control: public`; 304 when
/// `If-None-Match` names the page as it is.
///
/// # Errors
/// 400 for a malformed parameter or cursor; 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/products",
    operation_id = "listProducts",
    summary = "List, filter, sort and search products",
    tag = "catalog",
    params(
        ("category" = Option<String>, Query, description = "A category id or slug"),
        ("sellerId" = Option<uuid::Uuid>, Query, description = "Only this seller's products"),
        ("minPrice" = Option<i64>, Query, minimum = 0, description = "Lowest price, in minor units, inclusive"),
        ("maxPrice" = Option<i64>, Query, minimum = 0, description = "Highest price, in minor units, inclusive"),
        ("sort" = Option<crate::store::Sort>, Query, description = "The order (default `newest`); with `q`, within equally matching products"),
        ("q" = Option<String>, Query, max_length = 200, description = "Keywords: case and accents ignored, the last word may be a prefix"),
        shared::openapi::PageParams,
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer"),
    ),
    responses(
        (status = 200, description = "A page of active products", body = shared::pagination::Page<crate::domain::Product>, headers(
            ("ETag" = String, description = "Strong entity tag of the answer"),
            ("Cache-Control" = String, description = "`public, max-age=...`"),
        )),
        (status = 304, description = "The page is as `If-None-Match` names it"),
        (status = 400, response = shared::openapi::BadRequest),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    lists: &Lists,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let mut request = parse(&req)?;
    let caching = Caching::Public {
        max_age: lists.catalog.cache_max_age,
    };
    if let Some(slug) = &request.category_slug {
        match lists.catalog.store.category_by_slug(slug).await? {
            Some(id) => request.filters.category = Some(id),
            None => {
                let empty: Page<Product> = Page {
                    items: Vec::new(),
                    next_cursor: None,
                };
                return http::cacheable(ctx, &req, &empty, caching);
            }
        }
    }
    let scope = scope(&request);
    let page = if request.searching {
        if request.terms.is_empty() {
            // Only stop words or punctuation: nothing can match.
            Page {
                items: Vec::new(),
                next_cursor: None,
            }
        } else {
            search(lists, &request, &scope).await?
        }
    } else {
        list(lists, &request, &scope).await?
    };
    http::cacheable(ctx, &req, &page, caching)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    fn position(score: u32, price: i64) -> SearchPosition {
        SearchPosition {
            score,
            price,
            id: Uuid::now_v7(),
        }
    }

    #[test]
    fn the_sample_event_is_a_full_query() {
        let request = parse(&samples::list_products()).unwrap();
        assert_eq!(request.sort, Sort::PriceAsc);
        assert!(request.category_slug.is_some());
        assert_eq!(request.filters.min_price, Some(1000));
        assert_eq!(request.filters.max_price, Some(5000));
        assert!(request.searching);
        assert_eq!(request.page.limit, 10);
    }

    #[test]
    fn more_matched_words_rank_first_then_the_sort() {
        let cheap_one_word = position(1, 100);
        let dear_two_words = position(2, 900);
        let cheap_two_words = position(2, 500);
        let mut list = vec![cheap_one_word, dear_two_words, cheap_two_words];
        list.sort_by(|a, b| rank(Sort::PriceAsc, a, b));
        assert_eq!(list, [cheap_two_words, dear_two_words, cheap_one_word]);
        list.sort_by(|a, b| rank(Sort::PriceDesc, a, b));
        assert_eq!(list, [dear_two_words, cheap_two_words, cheap_one_word]);
        list.sort_by(|a, b| rank(Sort::Newest, a, b));
        assert_eq!(list, [cheap_two_words, dear_two_words, cheap_one_word]);
    }

    #[test]
    fn a_product_counts_each_term_once_and_filters_apply() {
        let (product, category, seller) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let m = |price| TermMatch {
            product_id: product,
            price_amount: price,
            category_id: category,
            seller_id: seller,
        };
        // A prefix term matching two words of one product counts once.
        let matches = vec![(0, m(300)), (1, m(300)), (1, m(300))];
        let positions = ranked(&matches, &Filters::default(), Sort::Newest);
        assert_eq!(positions.len(), 1);
        assert_eq!(positions[0].score, 2);
        let filters = Filters {
            max_price: Some(200),
            ..Filters::default()
        };
        assert!(ranked(&matches, &filters, Sort::Newest).is_empty());
    }

    #[test]
    fn bad_parameters_are_400s() {
        for query in [
            "minPrice=-1",
            "maxPrice=abc",
            "minPrice=500&maxPrice=100",
            "sort=cheapest",
            "sellerId=bob",
            "category=Not A Slug",
            "limit=0",
            "limit=101",
        ] {
            let mut req = samples::list_products();
            let params: HashMap<String, Vec<String>> = query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
                .collect();
            req = lambda_http::RequestExt::with_query_string_parameters(req, params);
            let error = parse(&req).unwrap_err();
            assert_eq!(error.status(), 400, "{query}");
        }
    }
}
