//! The payment provider's API, as far as the service uses it: payment intents (create, retrieve,
//! confirm, cancel, capture) and refunds, Stripe's REST API (form-encoded requests, JSON answers,
//! a bearer secret key, `Idempotency-Key` on every write, the API version pinned by a
//! `Stripe-Version` header on every request: [`API_VERSION`]). The same adapter talks to Stripe
//! and to the simulator; only the base URL differs.
//!
//! An order's intent is created unconfirmed, with automatic payment methods that never redirect
//! (so no `return_url` is needed), and then confirmed with the order's payment method in a call
//! of its own ([`NewIntent`]): replaying the creation can never charge.
//!
//! Answers are sorted into what the service decides on ([`ProviderError`]): a card the issuer
//! refused is [`ProviderError::Declined`]; trouble that may pass (5xx, 429, a connection that
//! fails or times out, an idempotency key still in use: 409, an intent that cannot be changed
//! while it is `processing`) is [`ProviderError::Transient`]; any other refusal is
//! [`ProviderError::Rejected`], a request the provider will never accept.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, StatusCode, header};
use hyper_rustls::ConfigBuilderExt as _;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde::{Deserialize, Serialize};
use shared::money::{Currency, Money};
use uuid::Uuid;

use crate::form;

/// How long one call may take, connection included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(8);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// The API version every request is made in (`Stripe-Version`), so that an account's default
/// version moving on changes nothing here. Webhook endpoints are created with the same version.
pub const API_VERSION: &str = "2024-06-20";
/// The header naming the API version.
pub const VERSION_HEADER: &str = "stripe-version";

/// The HTTP client (HTTPS, or plain HTTP for a local simulator).
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTPS (and HTTP) client trusting the system's roots, with a connect timeout.
///
/// # Errors
/// When the system has no usable root certificates.
pub fn http_client() -> Result<HttpClient, std::io::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_native_roots()?
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector))
}

/// A payment intent's status, as the provider names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    /// Waiting for a payment method (also after a failed attempt).
    RequiresPaymentMethod,
    /// Has a payment method; not confirmed yet.
    RequiresConfirmation,
    /// The customer must act (3-D Secure, a redirect).
    RequiresAction,
    /// Settling asynchronously; a webhook tells the outcome.
    Processing,
    /// Authorized; waiting for a capture.
    RequiresCapture,
    /// Charged.
    Succeeded,
    /// Canceled; nothing is charged.
    Canceled,
}

impl IntentStatus {
    /// The name the provider uses.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::RequiresCapture => "requires_capture",
            Self::Succeeded => "succeeded",
            Self::Canceled => "canceled",
        }
    }

    /// Whether the intent may be canceled: not once it is charged or canceled, nor while it is
    /// `processing` (the provider refuses; it settles first).
    #[must_use]
    pub const fn is_cancelable(self) -> bool {
        !matches!(self, Self::Succeeded | Self::Canceled | Self::Processing)
    }
}

/// Why the last attempt to pay failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastPaymentError {
    /// `card_error`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `card_declined`, …
    #[serde(default)]
    pub code: Option<String>,
    /// `generic_decline`, `insufficient_funds`, …
    #[serde(default)]
    pub decline_code: Option<String>,
    /// For people.
    #[serde(default)]
    pub message: Option<String>,
}

/// A payment intent (the fields the service reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntent {
    /// `pi_…`
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// Lower-case ISO code.
    pub currency: String,
    /// Where it is.
    pub status: IntentStatus,
    /// What the client confirms with.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Why the last attempt failed.
    #[serde(default)]
    pub last_payment_error: Option<LastPaymentError>,
    /// The service's own data (`order_id`, `payment_id`).
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// `re_…`
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// Lower-case ISO code.
    pub currency: String,
    /// `succeeded`, `pending`, `failed`, …
    pub status: String,
    /// The refunded intent.
    #[serde(default)]
    pub payment_intent: Option<String>,
}

/// A declined card: the provider's codes, kept for the order's reason and for the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decline {
    /// `card_declined`, `expired_card`, …
    pub code: Option<String>,
    /// The issuer's reason: `generic_decline`, `insufficient_funds`, …
    pub decline_code: Option<String>,
    /// For people.
    pub message: Option<String>,
}

/// A failed call, sorted into what the service decides on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// 402 `card_error`: the card was refused. The intent, when the answer carries it, is the one
    /// the attempt was made on.
    #[error("the card was declined ({decline:?})")]
    Declined {
        /// The provider's codes.
        decline: Decline,
        /// The intent's id, if the answer names it.
        intent_id: Option<String>,
    },
    /// Any other 4xx but 409 and 429: the request is wrong and will stay wrong.
    #[error("the provider refused the request: {status} {kind} {code:?}: {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The error's `type`.
        kind: String,
        /// The error's `code`.
        code: Option<String>,
        /// The error's `message`.
        message: String,
    },
    /// 5xx, 429, 409 (idempotency key in use), a timeout or a connection failure, or a change
    /// refused because the intent is `processing`: try again.
    #[error("the provider is unavailable: {0}")]
    Transient(String),
}

/// The error body of the provider.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    payment_intent: Option<serde_json::Value>,
}

/// Sorts an answer that is not a success.
#[must_use]
pub fn classify(status: StatusCode, body: &[u8]) -> ProviderError {
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_default();
    let message = detail
        .message
        .clone()
        .unwrap_or_else(|| format!("HTTP {status}"));
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::CONFLICT
    {
        return ProviderError::Transient(format!("{status}: {message}"));
    }
    // An intent that is `processing` cannot be canceled (nor confirmed again) until it settles:
    // later, the same request meets a settled intent.
    if detail.code.as_deref() == Some("payment_intent_unexpected_state")
        && detail
            .payment_intent
            .as_ref()
            .and_then(|pi| pi.get("status"))
            .and_then(serde_json::Value::as_str)
            == Some(IntentStatus::Processing.as_str())
    {
        return ProviderError::Transient(format!("{status}: the intent is processing: {message}"));
    }
    if status == StatusCode::PAYMENT_REQUIRED && detail.kind == "card_error" {
        let intent_id = detail
            .payment_intent
            .as_ref()
            .and_then(|pi| pi.get("id"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        return ProviderError::Declined {
            decline: Decline {
                code: detail.code,
                decline_code: detail.decline_code,
                message: detail.message,
            },
            intent_id,
        };
    }
    ProviderError::Rejected {
        status: status.as_u16(),
        kind: detail.kind,
        code: detail.code,
        message,
    }
}

/// What creating an order's intent asks for: never a confirmation nor a payment method, so the
/// creation charges nothing. The same order always makes the same request, so a replay (after a
/// crash, or by the compensation) meets the provider's stored answer, and can never charge even
/// when the first request never reached the provider. The order's payment method is given to
/// [`Provider::confirm_intent`] afterwards, under key `order-<id>-confirm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntent {
    /// The order.
    pub order_id: Uuid,
    /// The payment record.
    pub payment_id: Uuid,
    /// How much.
    pub amount: Money,
}

impl NewIntent {
    /// The form parameters of the creation: automatic payment methods without redirects (a
    /// confirmation then needs no `return_url`), automatic capture.
    #[must_use]
    pub fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("amount", self.amount.amount.to_string()),
            (
                "currency",
                self.amount.currency.as_str().to_ascii_lowercase(),
            ),
            ("capture_method", "automatic".to_owned()),
            ("automatic_payment_methods[enabled]", "true".to_owned()),
            (
                "automatic_payment_methods[allow_redirects]",
                "never".to_owned(),
            ),
            ("metadata[order_id]", self.order_id.to_string()),
            ("metadata[payment_id]", self.payment_id.to_string()),
        ]
    }
}

/// The operation naming the idempotency key of an order's intent creation.
pub const CREATE: &str = "create";
/// The operation naming the idempotency key of the confirmation with the order's payment method.
pub const CONFIRM: &str = "confirm";

/// The idempotency key of an operation on an order's payment.
#[must_use]
pub fn order_key(order_id: Uuid, operation: &str) -> String {
    format!("order-{order_id}-{operation}")
}

/// The provider's API.
#[derive(Debug, Clone)]
pub struct Provider {
    http: HttpClient,
    base: String,
    api_key: String,
    timeout: Duration,
}

impl Provider {
    /// A client of the API at `base` (e.g. `https://api.stripe.com`) with secret key `api_key`.
    #[must_use]
    pub fn new(http: HttpClient, base: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            api_key: api_key.into(),
            timeout: CALL_TIMEOUT,
        }
    }

    /// Creates an order's intent, unconfirmed (key `order-<id>-create`).
    ///
    /// # Errors
    /// [`ProviderError`].
    pub async fn create_intent(&self, new: &NewIntent) -> Result<PaymentIntent, ProviderError> {
        self.call(
            Method::POST,
            "/v1/payment_intents",
            &new.params(),
            Some(&order_key(new.order_id, CREATE)),
        )
        .await
    }

    /// Reads an intent.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub async fn retrieve_intent(&self, id: &str) -> Result<PaymentIntent, ProviderError> {
        self.call::<PaymentIntent>(
            Method::GET,
            &format!("/v1/payment_intents/{}", path_segment(id)),
            &[],
            None,
        )
        .await
    }

    /// Confirms an intent, with `payment_method` if given.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub async fn confirm_intent(
        &self,
        id: &str,
        payment_method: Option<&str>,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, ProviderError> {
        let params: Vec<(&str, String)> = payment_method
            .map(|m| vec![("payment_method", m.to_owned())])
            .unwrap_or_default();
        self.call(
            Method::POST,
            &format!("/v1/payment_intents/{}/confirm", path_segment(id)),
            &params,
            Some(idempotency_key),
        )
        .await
    }

    /// Cancels an intent.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub async fn cancel_intent(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, ProviderError> {
        self.call(
            Method::POST,
            &format!("/v1/payment_intents/{}/cancel", path_segment(id)),
            &[("cancellation_reason", "abandoned".to_owned())],
            Some(idempotency_key),
        )
        .await
    }

    /// Captures an authorized intent.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub async fn capture_intent(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, ProviderError> {
        self.call(
            Method::POST,
            &format!("/v1/payment_intents/{}/capture", path_segment(id)),
            &[],
            Some(idempotency_key),
        )
        .await
    }

    /// Refunds `amount` of a charged intent, or all that is left when `amount` is `None`.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub async fn refund(
        &self,
        intent_id: &str,
        amount: Option<i64>,
        reason: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError> {
        let mut params = vec![("payment_intent", intent_id.to_owned())];
        if let Some(amount) = amount {
            params.push(("amount", amount.to_string()));
        }
        if let Some(reason) = reason {
            params.push(("metadata[reason]", reason.to_owned()));
        }
        self.call(Method::POST, "/v1/refunds", &params, Some(idempotency_key))
            .await
    }

    /// The HTTP request of a call.
    fn request(
        &self,
        method: &Method,
        path: &str,
        params: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<hyper::Request<Full<Bytes>>, ProviderError> {
        let url = format!("{}{path}", self.base);
        let body = form::encode(params);
        let mut request = hyper::Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.api_key))
            .header(header::ACCEPT, "application/json")
            .header(VERSION_HEADER, API_VERSION);
        if method == Method::POST {
            request = request
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::CONTENT_LENGTH, body.len());
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ProviderError::Rejected {
                status: 0,
                kind: "request".into(),
                code: None,
                message: e.to_string(),
            })
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<T, ProviderError> {
        let request = self.request(&method, path, params, idempotency_key)?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| ProviderError::Transient(shared::error::cause_chain(&e)))?;
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| ProviderError::Transient(format!("read the answer: {e}")))?
                .to_bytes();
            Ok::<_, ProviderError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                ProviderError::Transient(format!("no answer within {:?}", self.timeout))
            })??;
        tracing::info!(%method, path, status = status.as_u16(), "provider answered");
        if !status.is_success() {
            return Err(classify(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| {
            ProviderError::Transient(format!("the provider's answer is not understood: {e}"))
        })
    }
}

/// An id as one path segment (ids are `[A-Za-z0-9_]`; anything else is escaped).
fn path_segment(id: &str) -> String {
    form::encode(&[("", id)]).trim_start_matches('=').to_owned()
}

/// The money of an intent's amount and currency.
#[must_use]
pub fn money(amount: i64, currency: &str) -> Option<Money> {
    Currency::parse(&currency.to_ascii_uppercase())
        .ok()
        .map(|c| Money::new(amount, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_card_error_is_a_decline_with_its_codes() {
        let body = json!({"error": {
            "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_intent": {"id": "pi_123", "status": "requires_payment_method"}
        }});
        let error = classify(StatusCode::PAYMENT_REQUIRED, body.to_string().as_bytes());
        assert_eq!(
            error,
            ProviderError::Declined {
                decline: Decline {
                    code: Some("card_declined".into()),
                    decline_code: Some("insufficient_funds".into()),
                    message: Some("Your card has insufficient funds.".into()),
                },
                intent_id: Some("pi_123".into()),
            }
        );
    }

    #[test]
    fn outages_throttling_and_keys_in_use_are_transient() {
        for status in [500, 502, 503, 429, 409] {
            let status = StatusCode::from_u16(status).unwrap();
            let body = json!({"error": {"type": "api_error", "message": "try later"}});
            assert!(
                matches!(
                    classify(status, body.to_string().as_bytes()),
                    ProviderError::Transient(_)
                ),
                "{status}"
            );
        }
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, b"<html>"),
            ProviderError::Transient(_)
        ));
    }

    #[test]
    fn other_client_errors_are_rejections() {
        let body = json!({"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters"}});
        let error = classify(StatusCode::BAD_REQUEST, body.to_string().as_bytes());
        assert!(
            matches!(&error, ProviderError::Rejected { status: 400, kind, .. } if kind == "idempotency_error")
        );
        let body = json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}});
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, body.to_string().as_bytes()),
            ProviderError::Rejected { status: 401, .. }
        ));
        // A 402 that is not a card error is not a decline.
        assert!(matches!(
            classify(StatusCode::PAYMENT_REQUIRED, b"{}"),
            ProviderError::Rejected { status: 402, .. }
        ));
    }

    #[test]
    fn an_orders_intent_is_created_unconfirmed_without_redirects_and_lower_case_currency() {
        let order_id = Uuid::nil();
        let new = NewIntent {
            order_id,
            payment_id: Uuid::max(),
            amount: Money::new(2_500, Currency::USD),
        };
        let body = form::encode(&new.params());
        assert_eq!(
            body,
            "amount=2500&currency=usd&capture_method=automatic\
             &automatic_payment_methods%5Benabled%5D=true\
             &automatic_payment_methods%5Ballow_redirects%5D=never\
             &metadata%5Border_id%5D=00000000-0000-0000-0000-000000000000\
             &metadata%5Bpayment_id%5D=ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
        assert!(!body.contains("confirm") && !body.contains("payment_method="));
        assert_eq!(
            order_key(order_id, CREATE),
            "order-00000000-0000-0000-0000-000000000000-create"
        );
        assert_eq!(
            order_key(order_id, CONFIRM),
            "order-00000000-0000-0000-0000-000000000000-confirm"
        );
    }

    #[test]
    fn every_request_pins_the_api_version() {
        let provider = Provider::new(http_client().unwrap(), "http://127.0.0.1:9/", "sk_test_x");
        for (method, key) in [(Method::GET, None), (Method::POST, Some("k"))] {
            let request = provider
                .request(&method, "/v1/payment_intents", &[], key)
                .unwrap();
            assert_eq!(request.headers()[VERSION_HEADER], "2024-06-20");
            assert_eq!(request.headers()[header::AUTHORIZATION], "Bearer sk_test_x");
            assert_eq!(
                request.headers().get("idempotency-key").is_some(),
                key.is_some()
            );
            assert_eq!(request.uri(), "http://127.0.0.1:9/v1/payment_intents");
        }
    }

    #[test]
    fn a_processing_intent_that_cannot_change_yet_is_transient() {
        let body = json!({"error": {
            "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
            "message": "You cannot cancel this PaymentIntent because it has a status of processing.",
            "payment_intent": {"id": "pi_1", "status": "processing"}
        }});
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, body.to_string().as_bytes()),
            ProviderError::Transient(_)
        ));
        let canceled = json!({"error": {
            "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
            "message": "You cannot confirm this PaymentIntent because it has a status of canceled.",
            "payment_intent": {"id": "pi_1", "status": "canceled"}
        }});
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, canceled.to_string().as_bytes()),
            ProviderError::Rejected { status: 400, .. }
        ));
        assert!(!IntentStatus::Processing.is_cancelable());
        assert!(IntentStatus::RequiresAction.is_cancelable());
    }

    #[test]
    fn intents_read_the_providers_json() {
        let intent: PaymentIntent = serde_json::from_value(json!({
            "id": "pi_1", "object": "payment_intent", "amount": 100, "currency": "usd",
            "status": "processing", "client_secret": "pi_1_secret_x", "last_payment_error": null,
            "metadata": {"order_id": "o"}, "livemode": false
        }))
        .unwrap();
        assert_eq!(intent.status, IntentStatus::Processing);
        assert_eq!(
            money(intent.amount, &intent.currency),
            Some(Money::new(100, Currency::USD))
        );
    }
}
