//! Lambda function `release-expired-reservations`: run by a schedule, releases the reservations of
//! checkouts that never finished. The invocation's payload (`{}` or a scheduled event) is ignored.

use inventory::{Inventory, handlers::release_expired_reservations};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use shared::{config::Env, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Inventory::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        let now = shared::time::now_rfc3339();
        let swept = release_expired_reservations::handle(&state, &now).await;
        shared::metrics::flush();
        swept.map_err(Error::from)
    }))
    .await
}
