//! `GET /v1/orders`: the caller's orders, newest first, cursor-paginated. Query parameters:
//! `status`, `limit`, `cursor`, and for admins `scope=all` (everyone's orders, of one status if
//! `status` is given).

use lambda_http::{Body, Request, Response};
use shared::{
    ApiError, RequestContext,
    auth::Caller,
    http::{self, query_param},
    pagination::PageRequest,
};

use crate::{
    Lists,
    domain::{OrderStatus, OrderView},
    handlers::private,
    store::Listing,
};

fn bad_query(name: &str, message: &str) -> ApiError {
    ApiError::bad_request("INVALID_QUERY", format!("{name} {message}."))
}

/// Answers 200 with a page of orders.
///
/// # Errors
/// 400 for a malformed parameter or cursor; 403 for `scope=all` without the admin role; 500 on
/// storage failure.
#[utoipa::path(
    get,
    path = "/v1/orders",
    operation_id = "listOrders",
    summary = "List the caller's orders (admins: everyone's)",
    tag = "orders",
    security(("bearer" = [])),
    params(
        ("scope" = Option<String>, Query, description = "`mine` (default) or, for admins, `all`"),
        ("status" = Option<crate::domain::OrderStatus>, Query, description = "Only orders in this status"),
        shared::openapi::PageParams,
    ),
    responses(
        (status = 200, description = "A page of orders, newest first", body = shared::pagination::Page<OrderView>),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    lists: &Lists,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let status = query_param(&req, "status")
        .map(|raw| {
            OrderStatus::parse(raw)
                .ok_or_else(|| bad_query("status", "is not an order status such as CONFIRMED"))
        })
        .transpose()?;
    let listing = match query_param(&req, "scope") {
        None | Some("mine") => Listing::User(caller.user_id, status),
        Some("all") => {
            caller.require_admin()?;
            status.map_or(Listing::All, Listing::Status)
        }
        Some(_) => return Err(bad_query("scope", "must be mine or all")),
    };
    let scope = match listing {
        Listing::User(user, status) => {
            format!(
                "orders:user:{user}:{}",
                status.map_or("", OrderStatus::as_str)
            )
        }
        Listing::Status(status) => format!("orders:status:{}", status.as_str()),
        Listing::All => "orders:all".to_owned(),
    };
    let page = PageRequest::from_request(&req)?;
    let start = lists.cursors.start_key(&scope, &page)?;
    let found = lists
        .orders
        .store
        .list(listing, page.limit as usize, start)
        .await?;
    let views = found
        .items
        .iter()
        .map(|order| OrderView::of(order, caller.user_id))
        .collect();
    let body = lists.cursors.page(&scope, views, found.next.as_ref())?;
    Ok(private(http::ok(ctx, &body)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_filters_by_status() {
        let req = samples::list_orders();
        assert_eq!(
            query_param(&req, "status").and_then(OrderStatus::parse),
            Some(OrderStatus::Confirmed)
        );
    }
}
