//! The payment provider simulator: the subset of Stripe's API the adapter uses, served by a
//! function at `ANY /simulator/{proxy+}` of the same HTTP API, for every stage that does not
//! talk to Stripe (template parameter `PaymentProvider`).
//!
//! - `POST /v1/payment_intents`, `GET /v1/payment_intents/{id}`,
//!   `POST /v1/payment_intents/{id}/confirm|cancel|capture` and `POST /v1/refunds`, under the
//!   `/simulator` prefix: form-encoded requests, the provider's JSON and error shapes, the bearer
//!   secret key checked against the `apiKey` of the provider's secret (401 otherwise).
//! - `Idempotency-Key` as the provider honours it: the same key with the same parameters answers
//!   the stored answer (with `Idempotent-Replayed: true`); with other parameters it is a 400
//!   `idempotency_error`; while the first request runs, a 409. A 500 is never stored.
//! - The provider's rules the adapter must keep: a charge in a two-decimal currency (`usd`, …) is
//!   at least 50 and at most 99,999,999 minor units (400 `invalid_request_error`
//!   `amount_too_small` / `amount_too_large`); an intent is confirmed only from
//!   `requires_payment_method` or `requires_confirmation` and canceled from any status but
//!   `processing`, `succeeded` and `canceled` (otherwise 400 `payment_intent_unexpected_state`,
//!   with the intent); `automatic_payment_methods[…]` are accepted on creation. The
//!   `Stripe-Version` header is accepted and not needed.
//! - Test payment methods ([`intents::Card`]), given at creation with `confirm=true` or to the
//!   confirmation: `pm_card_visa` (and `pm_card_mastercard`) succeeds; `pm_card_chargeDeclined`
//!   and `pm_card_chargeDeclinedInsufficientFunds` are declined (402);
//!   `pm_card_async_success` and `pm_card_async_failure` leave the intent `requires_action` (the
//!   customer must act, as with 3-D Secure) until a signed webhook settles it after
//!   `WEBHOOK_DELAY_SECONDS` (`payment_intent.succeeded`, `payment_intent.payment_failed`);
//!   `pm_card_async_never` stays `requires_action` (no webhook ever); an intent canceled
//!   meanwhile is not settled; `pm_card_unavailable_<N>` answers 500 to the first N creations or
//!   confirmations with it under one key; `pm_card_refundFail` succeeds but every refund of it
//!   answers 500.
//! - Delayed webhooks go through a queue (`WEBHOOK_QUEUE_URL`, with `DelaySeconds`); the
//!   `simulator-webhooks` function ([`webhooks`]) settles the intent and posts the signed event
//!   to `WEBHOOK_URL`.
//!
//! The simulator keeps its state in its own table (layout in [`store`]).

pub mod intents;
pub mod store;
pub mod webhooks;

use hyper::StatusCode;
use lambda_http::{Body, Request, RequestExt as _, Response, http::HeaderValue};
use serde_json::json;
use shared::{
    ApiError, RequestContext,
    config::{Env, StartError},
    error::Context as _,
};

use self::{
    intents::{Answer, Card, Intent, Params, Settlement},
    store::{Claim, SimulatorStore},
    webhooks::Scheduled,
};
use crate::{ProviderKeys, form};

/// How often a change of an intent is tried again after losing a race.
const ATTEMPTS: usize = 5;
/// The route prefix.
const PREFIX: &str = "/simulator";

/// The simulator function's state.
#[derive(Debug, Clone)]
pub struct Simulator {
    /// Its table.
    pub store: SimulatorStore,
    /// The keys it accepts and signs with.
    pub keys: ProviderKeys,
    /// The webhook queue.
    pub sqs: aws_sdk_sqs::Client,
    /// `WEBHOOK_QUEUE_URL`.
    pub queue_url: String,
    /// `WEBHOOK_DELAY_SECONDS` (default 2, at most 900).
    pub delay_seconds: i32,
}

impl Simulator {
    /// Builds the state from `TABLE_NAME`, `PROVIDER_SECRET_ARN`, `WEBHOOK_QUEUE_URL` and
    /// `WEBHOOK_DELAY_SECONDS`.
    ///
    /// # Errors
    /// A missing variable or an unreadable secret.
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        let config = shared::config::aws().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        let keys = ProviderKeys::load(&secrets, &env.required("PROVIDER_SECRET_ARN")?).await?;
        let delay_seconds: i32 = env.parse_or("WEBHOOK_DELAY_SECONDS", 2)?;
        Ok(Self {
            store: SimulatorStore::new(
                aws_sdk_dynamodb::Client::new(&config),
                env.required("TABLE_NAME")?,
            ),
            keys,
            sqs: aws_sdk_sqs::Client::new(&config),
            queue_url: env.required("WEBHOOK_QUEUE_URL")?,
            delay_seconds: delay_seconds.clamp(0, 900),
        })
    }
}

/// One of the API's operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `POST /v1/payment_intents`
    Create,
    /// `GET /v1/payment_intents/{id}`
    Retrieve(String),
    /// `POST /v1/payment_intents/{id}/confirm`
    Confirm(String),
    /// `POST /v1/payment_intents/{id}/cancel`
    Cancel(String),
    /// `POST /v1/payment_intents/{id}/capture`
    Capture(String),
    /// `POST /v1/refunds`
    Refund,
}

/// The operation of `method` on `path` (without the prefix).
#[must_use]
pub fn route(method: &str, path: &str) -> Option<Operation> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let valid =
        |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    Some(match (method, segments.as_slice()) {
        ("POST", ["v1", "payment_intents"]) => Operation::Create,
        ("GET", ["v1", "payment_intents", id]) if valid(id) => {
            Operation::Retrieve((*id).to_owned())
        }
        ("POST", ["v1", "payment_intents", id, action]) if valid(id) => match *action {
            "confirm" => Operation::Confirm((*id).to_owned()),
            "cancel" => Operation::Cancel((*id).to_owned()),
            "capture" => Operation::Capture((*id).to_owned()),
            _ => return None,
        },
        ("POST", ["v1", "refunds"]) => Operation::Refund,
        _ => return None,
    })
}

fn respond(answer: &Answer, replayed: bool) -> Response<Body> {
    let mut response = Response::new(Body::Text(answer.body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        lambda_http::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// Whether the request carries the secret key.
fn authorized(req: &Request, api_key: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    req.headers()
        .get(lambda_http::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(api_key.as_bytes())))
}

fn idempotency_error(key: &str) -> Answer {
    Answer::error(
        StatusCode::BAD_REQUEST,
        "idempotency_error",
        None,
        &format!(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. \
             Try using a key other than '{key}' if you meant to execute a different request."
        ),
        None,
    )
}

/// Serves one request to the simulated API (see the [module docs](self)).
///
/// # Errors
/// 500 on storage or queue failure (never stored as an idempotent answer).
#[tracing::instrument(skip_all)]
pub async fn handle(
    sim: &Simulator,
    req: Request,
    _ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    if !authorized(&req, &sim.keys.api_key) {
        return Ok(respond(
            &Answer::error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                None,
                "Invalid API Key provided.",
                None,
            ),
            false,
        ));
    }
    let raw_path = req.uri().path();
    let path = raw_path.strip_prefix(PREFIX).unwrap_or(raw_path).to_owned();
    let method = req.method().as_str().to_owned();
    let Some(operation) = route(&method, &path) else {
        return Ok(respond(
            &Answer::error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                None,
                &format!("Unrecognized request URL ({method}: {path})."),
                None,
            ),
            false,
        ));
    };
    let params = if method == "POST" {
        Params::new(form::decode(req.body().as_ref()))
    } else {
        Params::new(
            req.query_string_parameters_ref()
                .map(|q| {
                    q.iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        )
    };
    let key = (method == "POST")
        .then(|| req.headers().get("idempotency-key"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .map(str::to_owned);
    let now = shared::time::now().unix_timestamp();
    let Some(key) = key else {
        return Ok(respond(
            &run(sim, &operation, &params, None, now).await?,
            false,
        ));
    };
    if matches!(operation, Operation::Create | Operation::Confirm(_))
        && let Some(Card::Unavailable(failures)) =
            params.get("payment_method").and_then(Card::parse)
    {
        let calls = sim.store.count_call(&key, now).await?;
        if calls <= u64::from(failures) {
            tracing::info!(calls, failures, "simulated outage");
            return Ok(respond(
                &Answer::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api_error",
                    None,
                    "The simulated provider is unavailable; try again.",
                    None,
                ),
                false,
            ));
        }
    }
    let fingerprint = params.fingerprint(&method, &path);
    match sim.store.claim(&key, &fingerprint, now).await? {
        Claim::Mine => match run(sim, &operation, &params, Some(&key), now).await {
            Ok(answer) if answer.status < 500 => {
                sim.store.complete(&key, &answer).await?;
                Ok(respond(&answer, false))
            }
            Ok(answer) => {
                sim.store.release(&key).await?;
                Ok(respond(&answer, false))
            }
            Err(error) => {
                sim.store.release(&key).await?;
                Err(error)
            }
        },
        Claim::Done {
            fingerprint: first,
            answer,
        } => {
            if first == fingerprint {
                Ok(respond(&answer, true))
            } else {
                Ok(respond(&idempotency_error(&key), false))
            }
        }
        Claim::InProgress { fingerprint: first } => {
            if first == fingerprint {
                Ok(respond(
                    &Answer::error(
                        StatusCode::CONFLICT,
                        "idempotency_error",
                        Some("idempotency_key_in_use"),
                        "There is currently another in-progress request using this Idempotent Key; try again later.",
                        None,
                    ),
                    false,
                ))
            } else {
                Ok(respond(&idempotency_error(&key), false))
            }
        }
    }
}

/// Runs an operation.
async fn run(
    sim: &Simulator,
    operation: &Operation,
    params: &Params,
    key: Option<&str>,
    now: i64,
) -> Result<Answer, ApiError> {
    match operation {
        Operation::Create => create(sim, params, key, now).await,
        Operation::Retrieve(id) => Ok(match sim.store.intent(id).await? {
            Some(intent) => Answer::ok(intent.to_json()),
            None => Answer::missing("payment_intent", id, Some("intent")),
        }),
        Operation::Confirm(id) => {
            let method = params.get("payment_method").map(str::to_owned);
            change(sim, id, |intent| {
                if !matches!(
                    intent.status,
                    crate::provider::IntentStatus::RequiresPaymentMethod
                        | crate::provider::IntentStatus::RequiresConfirmation
                ) {
                    return Err(Answer::unexpected_state("confirm", intent));
                }
                if let Some(method) = &method {
                    intent.payment_method = Some(method.clone());
                }
                let Some(method) = intent.payment_method.clone() else {
                    return Err(Answer::invalid(
                        "parameter_missing",
                        "You must provide a payment_method to confirm this PaymentIntent.",
                        Some("payment_method"),
                    ));
                };
                intent.confirm(intents::card(&method)?)
            })
            .await
        }
        Operation::Cancel(id) => {
            let reason = params
                .get("cancellation_reason")
                .unwrap_or("requested_by_customer")
                .to_owned();
            change(sim, id, |intent| {
                // Not while `processing` either: the provider lets it settle first.
                if !intent.status.is_cancelable() {
                    return Err(Answer::unexpected_state("cancel", intent));
                }
                intent.status = crate::provider::IntentStatus::Canceled;
                intent.canceled_at = Some(now);
                intent.cancellation_reason = Some(reason.clone());
                Ok(None)
            })
            .await
        }
        Operation::Capture(id) => {
            let to_capture = match params.amount("amount_to_capture") {
                Ok(amount) => amount,
                Err(answer) => return Ok(answer),
            };
            change(sim, id, |intent| {
                if intent.status != crate::provider::IntentStatus::RequiresCapture {
                    return Err(Answer::unexpected_state("capture", intent));
                }
                let amount = to_capture.unwrap_or(intent.amount);
                if amount > intent.amount {
                    return Err(Answer::invalid(
                        "amount_too_large",
                        "The amount to capture is greater than the amount capturable.",
                        Some("amount_to_capture"),
                    ));
                }
                intent.status = crate::provider::IntentStatus::Succeeded;
                intent.amount_received = amount;
                Ok(None)
            })
            .await
        }
        Operation::Refund => refund(sim, params, now).await,
    }
}

/// `POST /v1/payment_intents`.
async fn create(
    sim: &Simulator,
    params: &Params,
    key: Option<&str>,
    now: i64,
) -> Result<Answer, ApiError> {
    let id = format!("pi_{}", uuid::Uuid::new_v4().simple());
    let mut intent =
        match intents::new_intent(params, id, uuid::Uuid::new_v4().simple().to_string(), now) {
            Ok(intent) => intent,
            Err(answer) => return Ok(answer),
        };
    let mut later = None;
    let mut declined = None;
    if intents::wants_confirmation(params) {
        let Some(method) = intent.payment_method.clone() else {
            return Ok(Answer::invalid(
                "parameter_missing",
                "You must provide a payment_method to confirm this PaymentIntent.",
                Some("payment_method"),
            ));
        };
        let card = match intents::card(&method) {
            Ok(card) => card,
            Err(answer) => return Ok(answer),
        };
        match intent.confirm(card) {
            Ok(settlement) => later = settlement,
            Err(answer) => declined = Some(answer),
        }
    }
    sim.store.create_intent(&intent).await?;
    tracing::info!(intent_id = %intent.id, status = intent.status.as_str(), idempotency_key = ?key, "intent created");
    if let Some(settlement) = later {
        schedule(sim, &intent, settlement).await?;
    }
    Ok(declined.unwrap_or_else(|| Answer::ok(intent.to_json())))
}

/// Reads intent `id`, lets `apply` change it and stores it unless somebody changed it meanwhile
/// (then again). Answers the intent, or `apply`'s refusal.
async fn change(
    sim: &Simulator,
    id: &str,
    mut apply: impl FnMut(&mut Intent) -> Result<Option<Settlement>, Answer>,
) -> Result<Answer, ApiError> {
    for attempt in 0..ATTEMPTS {
        let Some(mut intent) = sim.store.intent(id).await? else {
            return Ok(Answer::missing("payment_intent", id, Some("intent")));
        };
        let outcome = apply(&mut intent);
        // A declined confirmation keeps the failure on the intent.
        let refusal = match outcome {
            Ok(settlement) => Ok(settlement),
            Err(answer) if answer.status == 402 => Err(Some(answer)),
            Err(answer) => return Ok(answer),
        };
        if !sim.store.save_intent(&mut intent).await? {
            shared::dynamo::backoff(u32::try_from(attempt).unwrap_or(0)).await;
            continue;
        }
        return match refusal {
            Ok(Some(settlement)) => {
                schedule(sim, &intent, settlement).await?;
                Ok(Answer::ok(intent.to_json()))
            }
            Ok(None) => Ok(Answer::ok(intent.to_json())),
            Err(answer) => Ok(answer.unwrap_or_else(|| Answer::ok(intent.to_json()))),
        };
    }
    Err(ApiError::internal("change an intent", "it kept changing"))
}

/// `POST /v1/refunds`.
async fn refund(sim: &Simulator, params: &Params, now: i64) -> Result<Answer, ApiError> {
    let Some(intent_id) = params.get("payment_intent") else {
        return Ok(Answer::invalid(
            "parameter_missing",
            "Missing required param: payment_intent.",
            Some("payment_intent"),
        ));
    };
    for attempt in 0..ATTEMPTS {
        let Some(mut intent) = sim.store.intent(intent_id).await? else {
            return Ok(Answer::missing(
                "payment_intent",
                intent_id,
                Some("payment_intent"),
            ));
        };
        if intent.payment_method.as_deref().and_then(Card::parse) == Some(Card::RefundFails) {
            tracing::info!(intent = %intent.id, "simulated refund failure");
            return Ok(Answer::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                None,
                "The simulated provider cannot refund this payment.",
                None,
            ));
        }
        let amount = match intents::refund_amount(&intent, params) {
            Ok(amount) => amount,
            Err(answer) => return Ok(answer),
        };
        intent.amount_refunded += amount;
        if !sim.store.save_intent(&mut intent).await? {
            shared::dynamo::backoff(u32::try_from(attempt).unwrap_or(0)).await;
            continue;
        }
        let id = format!("re_{}", uuid::Uuid::new_v4().simple());
        let refund = json!({
            "id": id,
            "object": "refund",
            "amount": amount,
            "currency": intent.currency,
            "payment_intent": intent.id,
            "status": "succeeded",
            "reason": params.get("reason"),
            "metadata": params.metadata(),
            "created": now,
        });
        sim.store.put_refund(&id, &refund).await?;
        return Ok(Answer::ok(refund));
    }
    Err(ApiError::internal("refund an intent", "it kept changing"))
}

/// Schedules the webhook that settles `intent`.
async fn schedule(
    sim: &Simulator,
    intent: &Intent,
    settlement: Settlement,
) -> Result<(), ApiError> {
    let body = serde_json::to_string(&Scheduled {
        intent_id: intent.id.clone(),
        settlement,
    })
    .context("serialize a scheduled webhook")?;
    sim.sqs
        .send_message()
        .queue_url(&sim.queue_url)
        .message_body(body)
        .delay_seconds(sim.delay_seconds)
        .send()
        .await
        .context("schedule a webhook")?;
    tracing::info!(intent_id = %intent.id, ?settlement, delay_seconds = sim.delay_seconds, "webhook scheduled");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_of_the_adapter_are_served() {
        assert_eq!(
            route("POST", "/v1/payment_intents"),
            Some(Operation::Create)
        );
        assert_eq!(
            route("GET", "/v1/payment_intents/pi_123"),
            Some(Operation::Retrieve("pi_123".into()))
        );
        assert_eq!(
            route("POST", "/v1/payment_intents/pi_123/cancel"),
            Some(Operation::Cancel("pi_123".into()))
        );
        assert_eq!(route("POST", "/v1/refunds"), Some(Operation::Refund));
        assert_eq!(route("DELETE", "/v1/refunds"), None);
        assert_eq!(route("GET", "/v1/payment_intents/pi_1/../x"), None);
        assert_eq!(route("POST", "/v1/payment_intents/pi_1/refund"), None);
    }

    #[test]
    fn a_key_reused_with_other_parameters_is_an_idempotency_error() {
        let answer = idempotency_error("k1");
        assert_eq!(answer.status, 400);
        assert_eq!(answer.body["error"]["type"], "idempotency_error");
        let response = respond(&answer, true);
        assert_eq!(response.headers()["idempotent-replayed"], "true");
        assert_eq!(response.status(), 400);
    }
}
