//! Lambda function `cart-order-events`: takes what confirmed orders bought out of their carts,
//! from the `OrderConfirmed` events of its queue.

use cart::{Carts, handlers::order_events};
use lambda_http::Error;
use shared::{config::Env, consumer, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Carts::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    consumer::run_sqs(&state, "cart-order-events", order_events::apply).await
}
