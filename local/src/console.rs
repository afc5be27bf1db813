//! The console: pages for a person running the stack, on a port of their own (`up` prints it).
//!
//! - `/docs`: the API reference, rendered in the browser from the stack's own
//!   `GET /v1/openapi.json` (no external scripts, works offline);
//! - `/metrics`: the metrics the functions reported in their EMF lines (per route: requests,
//!   errors, latency; business counts), refreshed every few seconds; `/metrics.json` the same as
//!   JSON;
//! - `/notifications`: the emails and SMS the functions sent (as the emulator kept them, see
//!   [`crate::mailbox`]), newest first, each email's HTML shown as a mail client would, in a
//!   sandboxed frame where no script runs; the page reloads when another one arrives.
//!   `/notifications.json` the same as JSON.
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

use crate::mailbox::{self, Email, Sms};
use crate::metrics::{MetricRow, MetricsBoard};
use crate::server;

/// The API reference page; `__API_URL__` becomes the API's base URL.
const DOCS_PAGE: &str = include_str!("../console/docs.html");

/// The newest emails the notifications page shows in full; older ones are in its JSON.
const EMAILS_SHOWN: usize = 100;
/// How often the notifications page asks whether something new arrived, in milliseconds.
const NOTIFICATIONS_POLL_MS: u32 = 3000;

/// What the pages are made from.
struct Pages {
    docs: Bytes,
    metrics: Arc<MetricsBoard>,
    emulator_endpoint: String,
}

/// A running console.
#[derive(Debug)]
pub struct Console {
    address: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Console {
    /// Serves the console on `127.0.0.1:port` (0 picks a free port) for the API at `api_url`,
    /// with the stack's `metrics` and the emails and SMS of the emulator at `emulator_endpoint`.
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start(
        port: u16,
        api_url: &str,
        emulator_endpoint: &str,
        metrics: Arc<MetricsBoard>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let pages = Arc::new(Pages {
            docs: Bytes::from(DOCS_PAGE.replace("__API_URL__", api_url.trim_end_matches('/'))),
            metrics,
            emulator_endpoint: emulator_endpoint.to_owned(),
        });
        let task = tokio::spawn(server::serve(
            listener,
            shutdown.clone(),
            move |req: http::Request<hyper::body::Incoming>, _peer| {
                let pages = pages.clone();
                async move { respond(req.method(), req.uri().path(), &pages).await }
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

fn page(status: StatusCode, body: Bytes, media: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    response
}

async fn respond(method: &Method, path: &str, pages: &Pages) -> Response<Full<Bytes>> {
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
        "/docs" | "/docs/" => page(
            StatusCode::OK,
            pages.docs.clone(),
            "text/html; charset=utf-8",
        ),
        "/metrics" | "/metrics/" => page(
            StatusCode::OK,
            Bytes::from(metrics_page(&pages.metrics.snapshot())),
            "text/html; charset=utf-8",
        ),
        "/metrics.json" => page(
            StatusCode::OK,
            Bytes::from(serde_json::to_vec(&pages.metrics.snapshot()).unwrap_or_default()),
            "application/json",
        ),
        "/notifications" | "/notifications/" | "/notifications.json" => {
            notifications(path, &pages.emulator_endpoint).await
        }
        _ => page(
            StatusCode::NOT_FOUND,
            Bytes::from_static(
                b"Not found. The console serves /docs, /metrics and /notifications.\n",
            ),
            "text/plain",
        ),
    }
}

/// The emails and SMS newest first, as a page or as JSON (`{"emails": [...], "sms": [...]}`).
async fn notifications(path: &str, emulator_endpoint: &str) -> Response<Full<Bytes>> {
    let read = async {
        let emails = mailbox::emails(emulator_endpoint).await?;
        let sms = mailbox::sms(emulator_endpoint).await?;
        anyhow::Ok((emails, sms))
    };
    let (mut emails, mut sms) = match read.await {
        Ok(read) => read,
        Err(err) => {
            let message = format!(
                "Could not read the notifications from the emulator at {emulator_endpoint}: {err:#}"
            );
            tracing::warn!(target: "local::console", error = format!("{err:#}"), "notifications unavailable");
            return if path.ends_with(".json") {
                let body = serde_json::json!({ "message": message }).to_string();
                page(
                    StatusCode::BAD_GATEWAY,
                    Bytes::from(body),
                    "application/json",
                )
            } else {
                page(
                    StatusCode::BAD_GATEWAY,
                    Bytes::from(format!(
                        "{}<p class=\"error\">{}</p></body></html>",
                        notifications_head(None),
                        escape(&message)
                    )),
                    "text/html; charset=utf-8",
                )
            };
        }
    };
    emails.reverse();
    sms.reverse();
    if path.ends_with(".json") {
        let body = serde_json::json!({ "emails": emails, "sms": sms }).to_string();
        page(StatusCode::OK, Bytes::from(body), "application/json")
    } else {
        page(
            StatusCode::OK,
            Bytes::from(notifications_page(&emails, &sms)),
            "text/html; charset=utf-8",
        )
    }
}

/// What tells one state of the notifications from the next: the counts and the newest ids
/// (the page's script computes the same from `/notifications.json`).
fn notifications_key(emails: &[Email], sms: &[Sms]) -> String {
    format!(
        "{}:{}:{}:{}",
        emails.len(),
        sms.len(),
        emails.first().map_or("", |e| e.message_id.as_str()),
        sms.first().map_or("", |s| s.message_id.as_str())
    )
}

/// The start of the notifications page, up to its introduction; `key` (see
/// [`notifications_key`]) is what the page's script compares with the JSON to see that something
/// arrived (without it, the page does not look).
fn notifications_head(key: Option<&str>) -> String {
    let mut html = String::from("<!doctype html><html lang=\"en\"");
    if let Some(key) = key {
        let _ = write!(html, " data-key=\"{}\"", escape(key));
    }
    html.push_str(
        "><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Notifications (local)</title><style>\
         body{font:14px system-ui,sans-serif;margin:2rem;color:#1d2329;background:#fafbfc}\
         table{border-collapse:collapse}td,th{padding:.25rem .8rem;border-bottom:1px solid #e3e7eb;text-align:left;vertical-align:top}\
         article{background:#fff;border:1px solid #dde3e9;border-radius:6px;margin:0 0 1.2rem;padding:.8rem 1.2rem}\
         article h3{margin:.2rem 0 .5rem}dl{display:grid;grid-template-columns:6rem 1fr;gap:.15rem .8rem;margin:0 0 .6rem}\
         dt{color:#5b6875}dd{margin:0;overflow-wrap:anywhere}code{font-size:12px}\
         iframe{width:100%;height:28rem;border:1px solid #e3e7eb;border-radius:4px;background:#fff}\
         pre{background:#f3f5f7;border-radius:4px;padding:.6rem .8rem;white-space:pre-wrap;overflow-wrap:anywhere}\
         summary{cursor:pointer;color:#41505e}.error{color:#c9372c}.none{color:#5b6875}</style>",
    );
    if key.is_some() {
        let _ = write!(
            html,
            "<script>\
             const shown = document.documentElement.dataset.key;\
             setInterval(async () => {{\
               try {{\
                 const response = await fetch(\"/notifications.json\", {{cache: \"no-store\"}});\
                 if (!response.ok) return;\
                 const {{emails, sms}} = await response.json();\
                 const key = [emails.length, sms.length, emails[0]?.messageId ?? \"\", sms[0]?.messageId ?? \"\"].join(\":\");\
                 if (key !== shown) location.reload();\
               }} catch (error) {{}}\
             }}, {NOTIFICATIONS_POLL_MS});\
             </script>"
        );
    }
    html.push_str(
        "</head><body><h1>Notifications</h1><p>The emails (SES) and SMS (SNS) the functions sent \
         since the stack started, newest first. Nothing leaves this machine: the emulator keeps them \
         (the last few thousand). This page reloads when another one arrives; \
         <a href=\"/notifications.json\">JSON</a>.</p>",
    );
    html
}

/// The notifications as an HTML page; `emails` and `sms` newest first.
fn notifications_page(emails: &[Email], sms: &[Sms]) -> String {
    let mut html = notifications_head(Some(&notifications_key(emails, sms)));
    let _ = write!(html, "<h2>Emails ({})</h2>", emails.len());
    if emails.is_empty() {
        html.push_str("<p class=\"none\">No email yet.</p>");
    }
    for email in emails.iter().take(EMAILS_SHOWN) {
        email_article(&mut html, email);
    }
    if emails.len() > EMAILS_SHOWN {
        let _ = write!(
            html,
            "<p class=\"none\">{} older emails are in the <a href=\"/notifications.json\">JSON</a>.</p>",
            emails.len() - EMAILS_SHOWN
        );
    }
    let _ = write!(html, "<h2>SMS ({})</h2>", sms.len());
    if sms.is_empty() {
        html.push_str("<p class=\"none\">No SMS yet.</p>");
    } else {
        html.push_str("<table><tr><th>sent (UTC)</th><th>phone</th><th>text</th></tr>");
        for message in sms {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                message
                    .sent_at
                    .map_or_else(|| "-".to_owned(), mailbox::date_time),
                escape(&message.phone_number),
                escape(&message.message),
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>");
    html
}

/// One email: its headers, its HTML body in a frame that runs no script and reaches nothing
/// of the console, and its text body.
fn email_article(html: &mut String, email: &Email) {
    let subject = if email.subject.is_empty() {
        "(no subject)"
    } else {
        email.subject.as_str()
    };
    let _ = write!(
        html,
        "<article><h3>{}</h3><dl><dt>sent (UTC)</dt><dd>{}</dd><dt>from</dt><dd>{}</dd>",
        escape(subject),
        mailbox::date_time(email.sent_at),
        escape(&email.from),
    );
    for (name, list) in [
        ("to", &email.to),
        ("cc", &email.cc),
        ("bcc", &email.bcc),
        ("reply to", &email.reply_to),
    ] {
        if !list.is_empty() {
            let _ = write!(html, "<dt>{name}</dt><dd>{}</dd>", escape(&list.join(", ")));
        }
    }
    let _ = write!(
        html,
        "<dt>message id</dt><dd><code>{}</code></dd></dl>",
        escape(&email.message_id)
    );
    match (&email.html, &email.text) {
        (Some(body), text) => {
            // `sandbox` with no keyword: no scripts, forms, popups or navigation of this page,
            // and an origin of its own.
            let _ = write!(
                html,
                "<iframe sandbox srcdoc=\"{}\" title=\"{}\" referrerpolicy=\"no-referrer\" loading=\"lazy\"></iframe>",
                escape(body),
                escape(subject),
            );
            if let Some(text) = text {
                let _ = write!(
                    html,
                    "<details><summary>Text body</summary><pre>{}</pre></details>",
                    escape(text)
                );
            }
        }
        (None, Some(text)) => {
            let _ = write!(html, "<pre>{}</pre>", escape(text));
        }
        (None, None) => html.push_str("<p class=\"none\">(no body)</p>"),
    }
    html.push_str("</article>");
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

/// `text` safe inside HTML, in text and in attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No emulator listens there.
    const NO_EMULATOR: &str = "http://127.0.0.1:1";

    #[tokio::test]
    async fn serves_the_reference_with_the_api_url() {
        let console = Console::start(0, "http://127.0.0.1:3000/", NO_EMULATOR, Arc::default())
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

    #[tokio::test]
    async fn only_the_pages_exist() {
        let pages = Pages {
            docs: Bytes::from_static(b"page"),
            metrics: Arc::default(),
            emulator_endpoint: NO_EMULATOR.into(),
        };
        for (path, status) in [
            ("/docs", StatusCode::OK),
            ("/metrics", StatusCode::OK),
            ("/metrics.json", StatusCode::OK),
            ("/", StatusCode::FOUND),
            ("/x", StatusCode::NOT_FOUND),
            // Without an emulator to read them from, the notifications say so.
            ("/notifications", StatusCode::BAD_GATEWAY),
            ("/notifications.json", StatusCode::BAD_GATEWAY),
        ] {
            assert_eq!(
                respond(&Method::GET, path, &pages).await.status(),
                status,
                "{path}"
            );
        }
        assert_eq!(
            respond(&Method::POST, "/docs", &pages).await.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    fn email(id: &str, subject: &str, html: Option<&str>, text: Option<&str>) -> Email {
        Email {
            message_id: id.into(),
            sent_at: time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            from: "Orders <orders@storefront.example>".into(),
            to: vec!["buyer@example.com".into()],
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Vec::new(),
            subject: subject.into(),
            text: text.map(Into::into),
            html: html.map(Into::into),
        }
    }

    #[test]
    fn the_notifications_page_frames_each_html_body_without_scripts_and_escapes_everything() {
        let hostile = r#"<p class="x">Hi 'you' & co</p><script>alert(1)</script></iframe><b>"#;
        let emails = [
            email("m-2", "<b>Shipped</b>", Some(hostile), Some("Plain <text>")),
            email("m-1", "", None, Some("Only text & more")),
        ];
        let sms = [Sms {
            message_id: "s-1".into(),
            sent_at: None,
            phone_number: "+15555550100".into(),
            message: "Code <1234>".into(),
        }];
        let html = notifications_page(&emails, &sms);

        // The HTML body only inside the frame's srcdoc, escaped, and the frame sandboxed.
        assert!(
            html.contains(
                "<iframe sandbox srcdoc=\"&lt;p class=&quot;x&quot;&gt;Hi &#39;you&#39; &amp; co&lt;/p&gt;\
                 &lt;script&gt;alert(1)&lt;/script&gt;&lt;/iframe&gt;&lt;b&gt;\""
            ),
            "{html}"
        );
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("allow-scripts"), "{html}");
        assert_eq!(
            html.matches("<iframe").count(),
            1,
            "a frame for the HTML body only"
        );
        // Headers, the text bodies and the SMS are escaped too.
        assert!(
            html.contains("<h3>&lt;b&gt;Shipped&lt;/b&gt;</h3>"),
            "{html}"
        );
        assert!(
            html.contains("Orders &lt;orders@storefront.example&gt;"),
            "{html}"
        );
        assert!(html.contains("<pre>Plain &lt;text&gt;</pre>"), "{html}");
        assert!(html.contains("<h3>(no subject)</h3>"), "{html}");
        assert!(html.contains("<pre>Only text &amp; more</pre>"), "{html}");
        assert!(html.contains("<td>Code &lt;1234&gt;</td>"), "{html}");
        // Newest (as given) first, and the key the script compares with the JSON.
        assert!(html.find("Shipped") < html.find("(no subject)"));
        assert!(html.contains("data-key=\"2:1:m-2:s-1\""), "{html}");
        // Offline: nothing loaded from elsewhere.
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );

        let empty = notifications_page(&[], &[]);
        assert!(empty.contains("No email yet.") && empty.contains("No SMS yet."));
        assert!(empty.contains("data-key=\"0:0::\""), "{empty}");
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
