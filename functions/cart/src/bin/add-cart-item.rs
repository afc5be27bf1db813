//! Lambda function `add-cart-item`: `POST /v1/cart/items`.

use cart::{Carts, handlers::add_cart_item};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Carts::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, add_cart_item::handle)
    }))
    .await
}
