//! The console: pages for a person running the stack, on a port of their own (`up` prints it).
//!
//! - `/docs`: the API reference, rendered in the browser from the stack's own
//!   `GET /v1/openapi.json` (no external scripts, works offline);
//! - `/metrics`: the metrics the functions reported in their EMF lines (per route: requests,
//!   errors, latency; business counts), refreshed every few seconds; `/metrics.json` the same as
//!   JSON.
//!
//! The API itself keeps only the routes of the template, as API Gateway would.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::{MetricRow, MetricsBoard};
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
    /// Serves the console on `127.0.0.1:port` (0 picks a free port) for the API at `api_url`,
    /// with the stack's `metrics`.
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start(
        port: u16,
        api_url: &str,
        metrics: Arc<MetricsBoard>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let docs = Bytes::from(DOCS_PAGE.replace("__API_URL__", api_url.trim_end_matches('/')));
        let task = tokio::spawn(server::serve(
            listener,
            shutdown.clone(),
            move |req: http::Request<hyper::body::Incoming>, _peer| {
                let docs = docs.clone();
                let metrics = metrics.clone();
                async move { respond(req.method(), req.uri().path(), docs, &metrics) }
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

fn respond(
    method: &Method,
    path: &str,
    docs: Bytes,
    metrics: &MetricsBoard,
) -> Response<Full<Bytes>> {
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
        "/metrics" | "/metrics/" => page(
            StatusCode::OK,
            Bytes::from(metrics_page(&metrics.snapshot())),
            "text/html; charset=utf-8",
        ),
        "/metrics.json" => page(
            StatusCode::OK,
            Bytes::from(serde_json::to_vec(&metrics.snapshot()).unwrap_or_default()),
            "application/json",
        ),
        _ => page(
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"Not found. The console serves /docs and /metrics.\n"),
            "text/plain",
        ),
    }
}

/// The metrics as an HTML page that reloads itself.
fn metrics_page(rows: &[MetricRow]) -> String {
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"5\"><title>Metrics (local)</title><style>\
         body{font:14px system-ui,sans-serif;margin:2rem;color:#1d2329}\
         table{border-collapse:collapse}td,th{padding:.25rem .8rem;border-bottom:1px solid #e3e7eb;text-align:right}\
         td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}code{font-size:13px}</style></head><body>\
         <h1>Metrics</h1><p>What the functions reported in CloudWatch's embedded metric format since the \
         stack started (this page reloads every 5 s; <a href=\"/metrics.json\">JSON</a>).</p>",
    );
    if rows.is_empty() {
        html.push_str("<p>Nothing yet: send the API a request.</p>");
    } else {
        html.push_str(
            "<table><tr><th>namespace</th><th>metric</th><th>dimensions</th><th>samples</th>\
             <th>sum</th><th>min</th><th>p50</th><th>p99</th><th>max</th><th>unit</th></tr>",
        );
        for row in rows {
            let dimensions = row
                .dimensions
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&row.namespace),
                escape(&row.name),
                escape(&dimensions),
                row.samples,
                row.sum,
                row.min,
                row.p50,
                row.p99,
                row.max,
                escape(row.unit.as_deref().unwrap_or("")),
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>");
    html
}

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_reference_with_the_api_url() {
        let console = Console::start(0, "http://127.0.0.1:3000/", Arc::default())
            .await
            .unwrap();
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
        let board = MetricsBoard::new();
        let get = |path: &str| respond(&Method::GET, path, docs.clone(), &board).status();
        assert_eq!(get("/docs"), StatusCode::OK);
        assert_eq!(get("/metrics"), StatusCode::OK);
        assert_eq!(get("/metrics.json"), StatusCode::OK);
        assert_eq!(get("/"), StatusCode::FOUND);
        assert_eq!(get("/x"), StatusCode::NOT_FOUND);
        assert_eq!(
            respond(&Method::POST, "/docs", docs.clone(), &board).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn the_metrics_page_lists_every_series_escaped() {
        let board = MetricsBoard::new();
        board.record_line(
            r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"Storefront","Dimensions":[["Route"]],"Metrics":[{"Name":"Requests"}]}]},"Route":"GET /v1/<x>","Requests":1}"#,
        );
        let html = metrics_page(&board.snapshot());
        assert!(html.contains("Requests"));
        assert!(html.contains("Route=GET /v1/&lt;x&gt;"));
        assert!(metrics_page(&[]).contains("Nothing yet"));
    }
}
