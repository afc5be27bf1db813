//! Lambda function `cart-product-events`: keeps the cart's copy of the catalog from the
//! `ProductChanged` events of its queue.

use cart::{Carts, handlers::product_events};
use lambda_http::Error;
use shared::{config::Env, consumer, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Carts::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    consumer::run_sqs(&state, "cart-product-events", product_events::apply).await
}
