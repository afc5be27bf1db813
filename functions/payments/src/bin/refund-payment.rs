//! Lambda function `refund-payment`: `POST /v1/payments/{paymentId}/refund`.

use lambda_http::{Error, service_fn};
use payments::{Payments, handlers::refund_payment};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Payments::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, refund_payment::handle)
    }))
    .await
}
