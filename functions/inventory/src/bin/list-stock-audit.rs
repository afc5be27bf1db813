//! Lambda function `list-stock-audit`: `GET /v1/inventory/{productId}/audit`.

use inventory::{Lists, handlers::list_stock_audit};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Lists::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, list_stock_audit::handle)
    }))
    .await
}
