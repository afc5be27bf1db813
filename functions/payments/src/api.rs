//! The payments routes in the OpenAPI document (the platform service merges every service's).
//! The simulator's routes are the provider's API, described by the provider, not here.

use utoipa::OpenApi;

use crate::handlers::{get_order_payment, payment_webhook, refund_payment};

/// The payments operations and the schemas they use.
#[derive(OpenApi)]
#[openapi(
    paths(
        get_order_payment::handle,
        refund_payment::handle,
        payment_webhook::handle,
    ),
    tags((name = "payments", description = "Orders' payments, refunds and the provider's webhooks"))
)]
pub struct ApiDoc;
