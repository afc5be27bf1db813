//! One module per function.

pub mod get_openapi;
pub mod health;
pub mod not_found;

/// Sample events shared by the handler tests.
#[cfg(test)]
pub(crate) mod samples {
    use lambda_http::Request;

    /// The sample event for `GET /v1/health`.
    pub fn health() -> Request {
        lambda_http::request::from_str(include_str!("../../../../events/health.json")).unwrap()
    }

    /// The sample event for `GET /v1/openapi.json`.
    pub fn get_openapi() -> Request {
        lambda_http::request::from_str(include_str!("../../../../events/get-openapi.json")).unwrap()
    }

    /// The sample event for an unknown path reaching the `$default` route.
    pub fn not_found() -> Request {
        lambda_http::request::from_str(include_str!("../../../../events/not-found.json")).unwrap()
    }
}
