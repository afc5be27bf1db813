//! `GET /v1/notifications`: the caller's delivery log, newest first, cursor-paginated (`limit`,
//! `cursor`).

use lambda_http::{Body, Request, Response, http::HeaderValue, http::header};
use shared::{ApiError, RequestContext, auth::Caller, http, pagination::PageRequest};

use crate::{Lists, api::NotificationView};

/// Answers 200 with a page of the caller's notifications.
///
/// # Errors
/// 400 for a malformed `limit` or cursor; 401 without a caller; 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/notifications",
    operation_id = "listNotifications",
    summary = "List the emails and SMS sent to the caller",
    tag = "notifications",
    security(("bearer" = [])),
    params(shared::openapi::PageParams),
    responses(
        (status = 200, description = "A page of deliveries, newest first", body = shared::pagination::Page<NotificationView>),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    lists: &Lists,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let page = PageRequest::from_request(&req)?;
    // Cursors are bound to the caller: one user's cursor is refused in another's list.
    let scope = format!("notifications:{}", caller.user_id);
    let start = lists.cursors.start_key(&scope, &page)?;
    let found = lists
        .store
        .deliveries(caller.user_id, page.dynamo_limit(), start)
        .await?;
    let views: Vec<NotificationView> = found.items.into_iter().map(Into::into).collect();
    let body = lists.cursors.page(&scope, views, found.next.as_ref())?;
    let mut response = http::ok(ctx, &body)?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_signed_in_customer_asking_for_a_page() {
        let req = samples::list_notifications();
        let caller = Caller::from_request(&req).unwrap();
        assert_eq!(
            caller.user_id.to_string(),
            "0193a5b2-0000-7000-8000-00000000c0c0"
        );
        assert_eq!(PageRequest::from_request(&req).unwrap().limit, 10);
    }
}
