//! The console: pages for a person running the stack, on a port of their own (`up` prints it).
//!
//! - `/docs`: the API reference, rendered in the browser from the stack's own
//!   `GET /v1/openapi.json` (no external scripts, works offline).
//!
//! The API itself keeps only the routes of the template, as API Gateway would.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::server;

/// The API reference page; `__API_URL__` becomes the API's base URL.
const DOCS_PAGE: &str = include_str!("../console/docs.html");

/// A running console.
#[derive(Debug)]
pub struct Console {
    address: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Console {
    /// Serves the console on `127.0.0.1:port` (0 picks a free port) for the API at `api_url`.
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start(port: u16, api_url: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let docs = Bytes::from(DOCS_PAGE.replace("__API_URL__", api_url.trim_end_matches('/')));
        let task = tokio::spawn(server::serve(
            listener,
            shutdown.clone(),
            move |req: http::Request<hyper::body::Incoming>, _peer| {
                let docs = docs.clone();
                async move { respond(req.method(), req.uri().path(), docs) }
            },
        ));
        Ok(Self {
            address,
            shutdown,
            task,
        })
    }

    /// The console's base URL.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops serving.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

fn respond(method: &Method, path: &str, docs: Bytes) -> Response<Full<Bytes>> {
    let page = |status: StatusCode, body: Bytes, media: &'static str| {
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
        response
    };
    if method != Method::GET && method != Method::HEAD {
        return page(
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"GET only\n"),
            "text/plain",
        );
    }
    match path {
        "/" => {
            let mut response = page(StatusCode::FOUND, Bytes::new(), "text/plain");
            response
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/docs"));
            response
        }
        "/docs" | "/docs/" => page(StatusCode::OK, docs, "text/html; charset=utf-8"),
        _ => page(
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"Not found. The console serves /docs.\n"),
            "text/plain",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_reference_with_the_api_url() {
        let console = Console::start(0, "http://127.0.0.1:3000/").await.unwrap();
        let body = reqwest_get(&format!("{}/docs", console.url())).await;
        assert!(body.contains(r#"const API = "http://127.0.0.1:3000";"#));
        assert!(!body.contains("__API_URL__"));
        console.shutdown().await;
    }

    async fn reqwest_get(url: &str) -> String {
        use http_body_util::BodyExt as _;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let response = client.get(url.parse().unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn only_the_pages_exist() {
        let docs = Bytes::from_static(b"page");
        assert_eq!(
            respond(&Method::GET, "/docs", docs.clone()).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&Method::GET, "/", docs.clone()).status(),
            StatusCode::FOUND
        );
        assert_eq!(
            respond(&Method::GET, "/x", docs.clone()).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&Method::POST, "/docs", docs).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
