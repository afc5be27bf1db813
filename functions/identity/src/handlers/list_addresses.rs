//! `GET /v1/users/me/addresses`: the caller's address book.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, auth::Caller, http, pagination::Page};

use crate::{handlers::views::AddressView, store::Store};

/// Answers 200 with `{"items": [...], "nextCursor": null}`, oldest first. A book holds at most
/// [`crate::domain::MAX_ADDRESSES`] addresses, so it always fits one page.
///
/// # Errors
/// 404 if the account no longer exists; 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/users/me/addresses",
    operation_id = "listAddresses",
    summary = "List the caller's addresses",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every address of the caller, oldest first, in one page", body = shared::pagination::Page<crate::handlers::views::AddressView>),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 404, response = shared::openapi::NotFound),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    store: &Store,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    // A projected read: this function may not read the password hash (see its IAM policy).
    let mut book = store
        .address_book(caller.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such user."))?;
    book.addresses.sort_by_key(|a| a.id);
    let page = Page {
        items: book
            .addresses
            .iter()
            .map(|a| AddressView::new(a, book.default_address_id))
            .collect(),
        next_cursor: None,
    };
    http::ok(ctx, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_carries_a_caller() {
        assert!(Caller::from_request(&samples::list_addresses()).is_ok());
    }
}
