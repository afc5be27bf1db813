//! One module per function.

pub mod await_payment;
pub mod cancel_order;
pub mod close_cancelled_order;
pub mod confirm_order;
pub mod create_order;
pub mod fail_order;
pub mod flag_order;
pub mod get_order;
pub mod get_order_history;
pub mod list_orders;
pub mod payment_events;
pub mod update_order_status;
pub mod update_order_tracking;

use aws_sdk_sfn::error::ProvideErrorMetadata as _;
use lambda_http::{Body, Request, Response, http::HeaderValue, http::header};
use serde::Serialize;
use shared::{ApiError, RequestContext, auth::Caller, http, http::path_param, ids::parse_id};
use uuid::Uuid;

use crate::{
    Checkout,
    domain::{Order, OrderView},
};

/// 404 for an order the caller may not see (another user's looks the same as none).
fn no_order() -> ApiError {
    ApiError::not_found("No such order.")
}

/// The order id in the path; anything else is a 404.
fn order_in_path(req: &Request) -> Result<Uuid, ApiError> {
    path_param(req, "orderId")
        .and_then(parse_id)
        .ok_or_else(no_order)
}

/// The order named in the path, if `caller` may see it.
async fn visible_order(
    orders: &crate::Orders,
    req: &Request,
    caller: &Caller,
) -> Result<Order, ApiError> {
    let id = order_in_path(req)?;
    orders
        .store
        .order(id)
        .await?
        .filter(|order| order.visible_to(caller))
        .ok_or_else(no_order)
}

/// Refuses a transition the status machine does not allow (409 `INVALID_TRANSITION`).
///
/// # Errors
/// When `from` cannot become `to`.
fn check_transition(
    from: crate::domain::OrderStatus,
    to: crate::domain::OrderStatus,
) -> Result<(), ApiError> {
    if from.can_become(to) {
        Ok(())
    } else {
        Err(ApiError::conflict(
            "INVALID_TRANSITION",
            format!(
                "An order that is {} cannot become {}.",
                from.as_str(),
                to.as_str()
            ),
        ))
    }
}

/// A personal answer: never kept by a shared cache.
fn private(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

/// 200 with `order` as `caller` may see it.
///
/// # Errors
/// 500 when it cannot be serialized.
fn answer(
    ctx: &RequestContext,
    order: &Order,
    caller: &Caller,
) -> Result<Response<Body>, ApiError> {
    Ok(private(http::ok(
        ctx,
        &OrderView::of(order, caller.user_id),
    )?))
}

/// The execution input of an order's checkout (the state machine reads it; see
/// `infra/statemachines/checkout.asl.json`). Built from the stored order only, so a retried start
/// sends the same input and finds the same execution.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckoutInput<'a> {
    order_id: Uuid,
    user_id: Uuid,
    correlation_id: &'a str,
    from_cart: bool,
    lines: &'a [shared::checkout::OrderLine],
    currency: &'a str,
    payment_method: Option<&'a str>,
    payment_timeout_seconds: u32,
    /// What the payment's compensation did; `none` until it runs (the failing steps read it).
    compensation: serde_json::Value,
}

/// The execution input of an order's cancellation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelInput<'a> {
    order_id: Uuid,
    user_id: Uuid,
    correlation_id: &'a str,
    cancel: CancelRequest,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelRequest {
    requested_by: Uuid,
}

/// Starts the execution `name` with `input`. Starting it again with the same input is
/// harmless: Step Functions returns the running execution, and a finished one is left as it is.
///
/// # Errors
/// 500 when Step Functions cannot be reached: the order stays PENDING and a retry with the same
/// `Idempotency-Key` starts its checkout.
async fn start(checkout: &Checkout, name: &str, input: &impl Serialize) -> Result<(), ApiError> {
    let input = serde_json::to_string(input)
        .map_err(|e| ApiError::internal("serialize an execution input", e))?;
    match checkout
        .sfn
        .start_execution()
        .state_machine_arn(&checkout.state_machine)
        .name(name)
        .input(input)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if error.code() == Some("ExecutionAlreadyExists") => {
            tracing::info!(execution = name, "the execution already ran");
            Ok(())
        }
        Err(error) => Err(ApiError::internal(
            format!("start the execution {name}; the client may retry with the same key"),
            error,
        )),
    }
}

/// Starts `order`'s checkout.
///
/// # Errors
/// As [`start`].
async fn start_checkout(checkout: &Checkout, order: &Order) -> Result<(), ApiError> {
    let input = CheckoutInput {
        order_id: order.order_id,
        user_id: order.user_id,
        correlation_id: &order.correlation_id,
        from_cart: order.from_cart,
        lines: &order.requested_lines,
        currency: order.currency.as_str(),
        payment_method: order.payment_method.as_deref(),
        payment_timeout_seconds: checkout.payment_timeout_secs,
        compensation: serde_json::json!({"action": "none"}),
    };
    start(checkout, &order.order_id.to_string(), &input).await
}

/// Starts `order`'s cancellation (the compensation of its checkout).
///
/// # Errors
/// As [`start`].
async fn start_cancellation(checkout: &Checkout, order: &Order, by: Uuid) -> Result<(), ApiError> {
    let input = CancelInput {
        order_id: order.order_id,
        user_id: order.user_id,
        correlation_id: &order.correlation_id,
        cancel: CancelRequest { requested_by: by },
    };
    start(checkout, &format!("{}-cancel", order.order_id), &input).await
}

/// Sample events shared by the handler tests.
#[cfg(test)]
pub(crate) mod samples {
    shared::sample_events! {
        create_order => "create-order.json",
        list_orders => "list-orders.json",
        get_order => "get-order.json",
        get_order_history => "get-order-history.json",
        cancel_order => "cancel-order.json",
        update_order_status => "update-order-status.json",
        update_order_tracking => "update-order-tracking.json",
    }
}
