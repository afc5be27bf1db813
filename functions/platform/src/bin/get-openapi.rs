//! Lambda function `get-openapi`: `GET /v1/openapi.json`.

use lambda_http::{Error, service_fn};
use platform::handlers::get_openapi::{self, Document};
use shared::{http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let document = Document::load();
    lambda_http::run(service_fn(|req| {
        run_http(&document, req, get_openapi::handle)
    }))
    .await
}
