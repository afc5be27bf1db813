//! The simulator's payment intents and refunds, and its test payment methods: plain functions
//! of the request's parameters, with no storage in them.

use std::collections::BTreeMap;

use hyper::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::provider::IntentStatus;

/// What a test payment method does when an intent is confirmed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    /// `pm_card_visa`, `pm_card_mastercard`: succeeds.
    Succeeds,
    /// `pm_card_chargeDeclined`: 402 `card_declined` / `generic_decline`.
    Declined,
    /// `pm_card_chargeDeclinedInsufficientFunds`: 402 `card_declined` / `insufficient_funds`.
    InsufficientFunds,
    /// `pm_card_async_success`: `requires_action` (the customer must act, as with 3-D Secure),
    /// then a `payment_intent.succeeded` webhook.
    AsyncSuccess,
    /// `pm_card_async_failure`: `requires_action`, then a `payment_intent.payment_failed`
    /// webhook.
    AsyncFailure,
    /// `pm_card_async_never`: `requires_action`, and no webhook ever (the customer never acts).
    AsyncNever,
    /// `pm_card_unavailable_<N>`: the first N creations or confirmations with it under one
    /// idempotency key answer 500.
    Unavailable(u32),
    /// `pm_card_refundFail`: succeeds, but every refund of it answers 500 (a provider that keeps
    /// failing a compensation).
    RefundFails,
}

impl Card {
    /// The test payment method named `id`, if it is one.
    #[must_use]
    pub fn parse(id: &str) -> Option<Self> {
        Some(match id {
            "pm_card_visa" | "pm_card_mastercard" => Self::Succeeds,
            "pm_card_chargeDeclined" => Self::Declined,
            "pm_card_chargeDeclinedInsufficientFunds" => Self::InsufficientFunds,
            "pm_card_async_success" => Self::AsyncSuccess,
            "pm_card_async_failure" => Self::AsyncFailure,
            "pm_card_async_never" => Self::AsyncNever,
            "pm_card_refundFail" => Self::RefundFails,
            other => Self::Unavailable(other.strip_prefix("pm_card_unavailable_")?.parse().ok()?),
        })
    }

    /// The webhook that follows a confirmation, for asynchronous cards.
    #[must_use]
    pub const fn later(self) -> Option<Settlement> {
        match self {
            Self::AsyncSuccess => Some(Settlement::Succeeded),
            Self::AsyncFailure => Some(Settlement::Failed),
            _ => None,
        }
    }
}

/// How an asynchronous payment settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Settlement {
    /// `payment_intent.succeeded`.
    Succeeded,
    /// `payment_intent.payment_failed`.
    Failed,
}

impl Settlement {
    /// The event type.
    #[must_use]
    pub const fn event_type(self) -> &'static str {
        match self {
            Self::Succeeded => "payment_intent.succeeded",
            Self::Failed => "payment_intent.payment_failed",
        }
    }
}

/// A payment intent as the simulator keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// `pi_…`
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// Charged so far.
    pub amount_received: i64,
    /// Refunded so far (the simulator's own bookkeeping).
    pub amount_refunded: i64,
    /// Lower-case ISO code.
    pub currency: String,
    /// Where it is.
    pub status: IntentStatus,
    /// `pi_…_secret_…`
    pub client_secret: String,
    /// The payment method.
    #[serde(default)]
    pub payment_method: Option<String>,
    /// `automatic` or `manual`.
    pub capture_method: String,
    /// The last failed attempt, in the provider's shape.
    #[serde(default)]
    pub last_payment_error: Option<Value>,
    /// The caller's data.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    #[serde(default)]
    pub canceled_at: Option<i64>,
    /// Why.
    #[serde(default)]
    pub cancellation_reason: Option<String>,
    /// Optimistic concurrency.
    pub version: u64,
}

impl Intent {
    /// The intent in the provider's JSON.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_received": self.amount_received,
            "amount_capturable": if self.status == IntentStatus::RequiresCapture { self.amount } else { 0 },
            "currency": self.currency,
            "status": self.status,
            "client_secret": self.client_secret,
            "payment_method": self.payment_method,
            "capture_method": self.capture_method,
            "confirmation_method": "automatic",
            "last_payment_error": self.last_payment_error,
            "metadata": self.metadata,
            "created": self.created,
            "canceled_at": self.canceled_at,
            "cancellation_reason": self.cancellation_reason,
            "livemode": false,
        })
    }

    /// Confirms the intent with `card`: what the answer is, and whether a webhook follows.
    ///
    /// # Errors
    /// The 402 answer of a declined card (the intent keeps the failure).
    pub fn confirm(&mut self, card: Card) -> Result<Option<Settlement>, Answer> {
        match card {
            Card::Succeeds | Card::Unavailable(_) | Card::RefundFails => {
                if self.capture_method == "manual" {
                    self.status = IntentStatus::RequiresCapture;
                } else {
                    self.status = IntentStatus::Succeeded;
                    self.amount_received = self.amount;
                }
                self.last_payment_error = None;
                Ok(None)
            }
            Card::Declined | Card::InsufficientFunds => {
                let (decline_code, message) = if card == Card::Declined {
                    ("generic_decline", "Your card was declined.")
                } else {
                    ("insufficient_funds", "Your card has insufficient funds.")
                };
                let error = card_error(decline_code, message);
                self.status = IntentStatus::RequiresPaymentMethod;
                self.last_payment_error = Some(error.clone());
                let mut body = error;
                body["payment_intent"] = self.to_json();
                Err(Answer::new(
                    StatusCode::PAYMENT_REQUIRED,
                    json!({ "error": body }),
                ))
            }
            Card::AsyncSuccess | Card::AsyncFailure | Card::AsyncNever => {
                self.status = IntentStatus::RequiresAction;
                self.last_payment_error = None;
                Ok(card.later())
            }
        }
    }

    /// Settles an intent waiting for the customer (`requires_action`) or `processing`, as the
    /// customer's action does. `false` when it waits no more (canceled meanwhile).
    pub fn settle(&mut self, settlement: Settlement) -> bool {
        let already = match settlement {
            Settlement::Succeeded => self.status == IntentStatus::Succeeded,
            Settlement::Failed => {
                self.status == IntentStatus::RequiresPaymentMethod
                    && self.last_payment_error.is_some()
            }
        };
        if already {
            return true;
        }
        if !matches!(
            self.status,
            IntentStatus::RequiresAction | IntentStatus::Processing
        ) {
            return false;
        }
        match settlement {
            Settlement::Succeeded => {
                self.status = IntentStatus::Succeeded;
                self.amount_received = self.amount;
            }
            Settlement::Failed => {
                self.status = IntentStatus::RequiresPaymentMethod;
                self.last_payment_error =
                    Some(card_error("generic_decline", "Your card was declined."));
            }
        }
        true
    }
}

fn card_error(decline_code: &str, message: &str) -> Value {
    json!({
        "type": "card_error",
        "code": "card_declined",
        "decline_code": decline_code,
        "message": message,
        "param": Value::Null,
    })
}

/// An answer: status and JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Answer {
    /// An answer.
    #[must_use]
    pub fn new(status: StatusCode, body: Value) -> Self {
        Self {
            status: status.as_u16(),
            body,
        }
    }

    /// 200 with `body`.
    #[must_use]
    pub fn ok(body: Value) -> Self {
        Self::new(StatusCode::OK, body)
    }

    /// An error in the provider's shape.
    #[must_use]
    pub fn error(
        status: StatusCode,
        kind: &str,
        code: Option<&str>,
        message: &str,
        param: Option<&str>,
    ) -> Self {
        Self::new(
            status,
            json!({"error": {"type": kind, "code": code, "decline_code": Value::Null, "message": message, "param": param}}),
        )
    }

    /// 400 `invalid_request_error`.
    #[must_use]
    pub fn invalid(code: &str, message: &str, param: Option<&str>) -> Self {
        Self::error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some(code),
            message,
            param,
        )
    }

    /// 404 `resource_missing`.
    #[must_use]
    pub fn missing(what: &str, id: &str, param: Option<&str>) -> Self {
        Self::error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such {what}: '{id}'"),
            param,
        )
    }

    /// 400 `payment_intent_unexpected_state`, with the intent as it is (as the provider does).
    #[must_use]
    pub fn unexpected_state(action: &str, intent: &Intent) -> Self {
        let mut answer = Self::invalid(
            "payment_intent_unexpected_state",
            &format!(
                "You cannot {action} this PaymentIntent because it has a status of {}.",
                intent.status.as_str()
            ),
            None,
        );
        answer.body["error"]["payment_intent"] = intent.to_json();
        answer
    }
}

/// The parameters of a request, by name (the last value of a repeated name wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    /// From decoded form pairs.
    #[must_use]
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    /// A parameter.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A positive integer parameter.
    ///
    /// # Errors
    /// 400 `parameter_invalid_integer`.
    pub fn amount(&self, name: &str) -> Result<Option<i64>, Answer> {
        self.get(name)
            .map(|raw| {
                raw.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0 && *n <= shared::money::MAX_AMOUNT)
                    .ok_or_else(|| {
                        Answer::invalid(
                            "parameter_invalid_integer",
                            &format!("Invalid positive integer: {name}"),
                            Some(name),
                        )
                    })
            })
            .transpose()
    }

    /// `metadata[...]` as a map.
    #[must_use]
    pub fn metadata(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let inner = k.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((inner.to_owned(), v.clone()))
            })
            .collect()
    }

    /// A fingerprint of the request for its idempotency key: the method, path and sorted
    /// parameters.
    #[must_use]
    pub fn fingerprint(&self, method: &str, path: &str) -> String {
        use sha2::{Digest as _, Sha256};
        let mut digest = Sha256::new();
        digest.update(method.as_bytes());
        digest.update(b" ");
        digest.update(path.as_bytes());
        for (k, v) in &self.0 {
            digest.update(b"\n");
            digest.update(k.as_bytes());
            digest.update(b"=");
            digest.update(v.as_bytes());
        }
        crate::signature::hex(&digest.finalize())
    }
}

/// A new intent from a creation's parameters (not confirmed yet).
///
/// # Errors
/// 400 for a missing or invalid parameter.
pub fn new_intent(params: &Params, id: String, secret: String, now: i64) -> Result<Intent, Answer> {
    let amount = params.amount("amount")?.ok_or_else(|| {
        Answer::invalid(
            "parameter_missing",
            "Missing required param: amount.",
            Some("amount"),
        )
    })?;
    let currency = params.get("currency").ok_or_else(|| {
        Answer::invalid(
            "parameter_missing",
            "Missing required param: currency.",
            Some("currency"),
        )
    })?;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(Answer::invalid(
            "parameter_invalid_string",
            &format!("Invalid currency: {currency}."),
            Some("currency"),
        ));
    }
    check_amount(amount, currency)?;
    if !matches!(
        params.get("automatic_payment_methods[allow_redirects]"),
        None | Some("always" | "never")
    ) {
        return Err(Answer::invalid(
            "parameter_invalid_string",
            "Invalid automatic_payment_methods[allow_redirects]: must be one of always or never.",
            Some("automatic_payment_methods[allow_redirects]"),
        ));
    }
    let capture_method = params.get("capture_method").unwrap_or("automatic");
    if !matches!(capture_method, "automatic" | "automatic_async" | "manual") {
        return Err(Answer::invalid(
            "parameter_invalid_string",
            "Invalid capture_method.",
            Some("capture_method"),
        ));
    }
    let payment_method = params.get("payment_method").map(str::to_owned);
    Ok(Intent {
        client_secret: format!("{id}_secret_{secret}"),
        id,
        amount,
        amount_received: 0,
        amount_refunded: 0,
        currency: currency.to_owned(),
        status: if payment_method.is_some() {
            IntentStatus::RequiresConfirmation
        } else {
            IntentStatus::RequiresPaymentMethod
        },
        payment_method,
        capture_method: if capture_method == "manual" {
            "manual"
        } else {
            "automatic"
        }
        .to_owned(),
        last_payment_error: None,
        metadata: params.metadata(),
        created: now,
        canceled_at: None,
        cancellation_reason: None,
        version: 0,
    })
}

/// The smallest charge of the provider in currencies of two decimals, minor units ($0.50).
pub const MIN_CHARGE: i64 = 50;
/// The largest charge of the provider in currencies of two decimals, minor units ($999,999.99).
pub const MAX_CHARGE: i64 = 99_999_999;

/// Currencies without minor units, and with three decimals: the limits of two-decimal currencies
/// do not apply to them.
const NOT_USD_LIKE: [&str; 21] = [
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf", "bhd", "jod", "kwd", "omr", "tnd",
];

/// The provider's limits on a charge of `amount` in `currency` (a two-decimal currency such as
/// `usd`: from [`MIN_CHARGE`] to [`MAX_CHARGE`]).
///
/// # Errors
/// 400 `invalid_request_error` `amount_too_small` or `amount_too_large`, as the provider answers.
pub fn check_amount(amount: i64, currency: &str) -> Result<(), Answer> {
    if NOT_USD_LIKE.contains(&currency) {
        return Ok(());
    }
    if amount < MIN_CHARGE {
        return Err(Answer::invalid(
            "amount_too_small",
            &format!("Amount must be at least $0.50 {currency}"),
            Some("amount"),
        ));
    }
    if amount > MAX_CHARGE {
        return Err(Answer::invalid(
            "amount_too_large",
            "Amount must be no more than $999,999.99",
            Some("amount"),
        ));
    }
    Ok(())
}

/// The test card named by `payment_method`.
///
/// # Errors
/// 404 `resource_missing` for an unknown payment method.
pub fn card(payment_method: &str) -> Result<Card, Answer> {
    Card::parse(payment_method)
        .ok_or_else(|| Answer::missing("PaymentMethod", payment_method, Some("payment_method")))
}

/// Whether `params` ask for a confirmation (`confirm=true`).
#[must_use]
pub fn wants_confirmation(params: &Params) -> bool {
    params.get("confirm") == Some("true")
}

/// How much a refund of `intent` returns.
///
/// # Errors
/// 400 when the intent is not charged, is fully refunded, or `amount` is more than what is left.
pub fn refund_amount(intent: &Intent, params: &Params) -> Result<i64, Answer> {
    if intent.status != IntentStatus::Succeeded {
        return Err(Answer::unexpected_state("refund", intent));
    }
    let remaining = intent.amount_received - intent.amount_refunded;
    if remaining <= 0 {
        return Err(Answer::invalid(
            "charge_already_refunded",
            &format!(
                "Charge for PaymentIntent {} has already been refunded.",
                intent.id
            ),
            None,
        ));
    }
    match params.amount("amount")? {
        None => Ok(remaining),
        Some(amount) if amount > remaining => Err(Answer::invalid(
            "amount_too_large",
            &format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})."
            ),
            Some("amount"),
        )),
        Some(amount) => Ok(amount),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn intent(method: Option<&str>) -> Intent {
        let mut pairs = vec![
            ("amount", "2500"),
            ("currency", "usd"),
            ("metadata[order_id]", "o-1"),
        ];
        if let Some(method) = method {
            pairs.push(("payment_method", method));
        }
        new_intent(&params(&pairs), "pi_1".into(), "s".into(), 0).unwrap()
    }

    #[test]
    fn the_test_cards_are_known_by_name() {
        assert_eq!(Card::parse("pm_card_visa"), Some(Card::Succeeds));
        assert_eq!(Card::parse("pm_card_chargeDeclined"), Some(Card::Declined));
        assert_eq!(
            Card::parse("pm_card_chargeDeclinedInsufficientFunds"),
            Some(Card::InsufficientFunds)
        );
        assert_eq!(
            Card::parse("pm_card_async_success"),
            Some(Card::AsyncSuccess)
        );
        assert_eq!(
            Card::parse("pm_card_async_failure"),
            Some(Card::AsyncFailure)
        );
        assert_eq!(Card::parse("pm_card_async_never"), Some(Card::AsyncNever));
        assert_eq!(Card::parse("pm_card_refundFail"), Some(Card::RefundFails));
        assert_eq!(
            Card::parse("pm_card_unavailable_2"),
            Some(Card::Unavailable(2))
        );
        assert_eq!(Card::parse("pm_card_unavailable_x"), None);
        assert_eq!(Card::parse("pm_card_unknown"), None);
        assert_eq!(card("pm_nope").unwrap_err().status, 404);
    }

    #[test]
    fn a_visa_succeeds_at_once() {
        let mut pi = intent(Some("pm_card_visa"));
        assert_eq!(pi.status, IntentStatus::RequiresConfirmation);
        assert_eq!(pi.confirm(Card::Succeeds), Ok(None));
        assert_eq!(pi.status, IntentStatus::Succeeded);
        assert_eq!(pi.amount_received, 2500);
        assert_eq!(pi.metadata["order_id"], "o-1");
        let json = pi.to_json();
        assert_eq!(json["object"], "payment_intent");
        assert!(
            json["client_secret"]
                .as_str()
                .unwrap()
                .starts_with("pi_1_secret_")
        );
    }

    #[test]
    fn declined_cards_answer_402_with_the_intent_and_their_decline_code() {
        for (card, code) in [
            (Card::Declined, "generic_decline"),
            (Card::InsufficientFunds, "insufficient_funds"),
        ] {
            let mut pi = intent(Some("x"));
            let answer = pi.confirm(card).unwrap_err();
            assert_eq!(answer.status, 402);
            assert_eq!(answer.body["error"]["type"], "card_error");
            assert_eq!(answer.body["error"]["code"], "card_declined");
            assert_eq!(answer.body["error"]["decline_code"], code);
            assert_eq!(answer.body["error"]["payment_intent"]["id"], "pi_1");
            assert_eq!(pi.status, IntentStatus::RequiresPaymentMethod);
        }
    }

    #[test]
    fn asynchronous_cards_wait_for_the_customer_and_settle_later_unless_canceled() {
        let mut pi = intent(Some("pm_card_async_success"));
        assert_eq!(
            pi.confirm(Card::AsyncSuccess),
            Ok(Some(Settlement::Succeeded))
        );
        assert_eq!(pi.status, IntentStatus::RequiresAction);
        assert!(pi.status.is_cancelable());
        assert!(pi.settle(Settlement::Succeeded));
        assert_eq!(pi.status, IntentStatus::Succeeded);
        assert!(
            pi.settle(Settlement::Succeeded),
            "a redelivery settles nothing new"
        );

        let mut pi = intent(Some("pm_card_async_failure"));
        assert_eq!(pi.confirm(Card::AsyncFailure), Ok(Some(Settlement::Failed)));
        assert!(pi.settle(Settlement::Failed));
        assert_eq!(pi.status, IntentStatus::RequiresPaymentMethod);
        assert_eq!(
            pi.last_payment_error.as_ref().unwrap()["code"],
            "card_declined"
        );

        let mut pi = intent(Some("pm_card_async_never"));
        assert_eq!(pi.confirm(Card::AsyncNever), Ok(None));
        assert_eq!(pi.status, IntentStatus::RequiresAction);
        pi.status = IntentStatus::Canceled;
        assert!(!pi.settle(Settlement::Succeeded));

        // A `processing` intent settles too, but cannot be canceled meanwhile.
        let mut pi = intent(Some("pm_card_async_success"));
        pi.status = IntentStatus::Processing;
        assert!(!pi.status.is_cancelable());
        let refused = Answer::unexpected_state("cancel", &pi);
        assert_eq!(refused.status, 400);
        assert_eq!(
            refused.body["error"]["code"],
            "payment_intent_unexpected_state"
        );
        assert_eq!(
            refused.body["error"]["payment_intent"]["status"],
            "processing"
        );
        assert!(pi.settle(Settlement::Succeeded));
        assert_eq!(pi.status, IntentStatus::Succeeded);
    }

    #[test]
    fn charges_keep_the_providers_limits_in_two_decimal_currencies() {
        let create = |amount: &str, currency: &str| {
            new_intent(
                &params(&[("amount", amount), ("currency", currency)]),
                "pi".into(),
                "s".into(),
                0,
            )
        };
        for (amount, code) in [
            ("1", "amount_too_small"),
            ("49", "amount_too_small"),
            ("100000000", "amount_too_large"),
        ] {
            let refused = create(amount, "usd").unwrap_err();
            assert_eq!(refused.status, 400, "{amount}");
            assert_eq!(refused.body["error"]["type"], "invalid_request_error");
            assert_eq!(refused.body["error"]["code"], code, "{amount}");
            assert_eq!(refused.body["error"]["param"], "amount");
        }
        assert!(create("50", "usd").is_ok());
        assert!(create("99999999", "eur").is_ok());
        assert_eq!(
            create("49", "eur").unwrap_err().body["error"]["code"],
            "amount_too_small"
        );
        assert!(create("1", "jpy").is_ok(), "not a two-decimal currency");
        let redirects = new_intent(
            &params(&[
                ("amount", "500"),
                ("currency", "usd"),
                ("automatic_payment_methods[enabled]", "true"),
                ("automatic_payment_methods[allow_redirects]", "never"),
            ]),
            "pi".into(),
            "s".into(),
            0,
        )
        .unwrap();
        assert_eq!(redirects.status, IntentStatus::RequiresPaymentMethod);
    }

    #[test]
    fn refunds_never_exceed_what_is_left() {
        let mut pi = intent(Some("pm_card_visa"));
        assert_eq!(refund_amount(&pi, &params(&[])).unwrap_err().status, 400);
        pi.confirm(Card::Succeeds).unwrap();
        assert_eq!(refund_amount(&pi, &params(&[])), Ok(2500));
        assert_eq!(refund_amount(&pi, &params(&[("amount", "1000")])), Ok(1000));
        pi.amount_refunded = 1000;
        let too_much = refund_amount(&pi, &params(&[("amount", "1501")])).unwrap_err();
        assert_eq!(too_much.body["error"]["code"], "amount_too_large");
        assert_eq!(refund_amount(&pi, &params(&[])), Ok(1500));
        pi.amount_refunded = 2500;
        let none_left = refund_amount(&pi, &params(&[])).unwrap_err();
        assert_eq!(none_left.body["error"]["code"], "charge_already_refunded");
        assert_eq!(
            refund_amount(&pi, &params(&[("amount", "-1")]))
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn creations_need_an_amount_and_a_lower_case_currency() {
        let missing = new_intent(&params(&[("currency", "usd")]), "pi".into(), "s".into(), 0);
        assert_eq!(missing.unwrap_err().body["error"]["param"], "amount");
        let upper = new_intent(
            &params(&[("amount", "100"), ("currency", "USD")]),
            "pi".into(),
            "s".into(),
            0,
        );
        assert_eq!(upper.unwrap_err().status, 400);
        let bad = new_intent(
            &params(&[("amount", "1.5"), ("currency", "usd")]),
            "pi".into(),
            "s".into(),
            0,
        );
        assert_eq!(
            bad.unwrap_err().body["error"]["code"],
            "parameter_invalid_integer"
        );
    }

    #[test]
    fn fingerprints_depend_on_every_parameter_but_not_their_order() {
        let a = params(&[("amount", "1"), ("currency", "usd")]);
        let b = Params::new(vec![
            ("currency".into(), "usd".into()),
            ("amount".into(), "1".into()),
        ]);
        let c = params(&[("amount", "2"), ("currency", "usd")]);
        assert_eq!(
            a.fingerprint("POST", "/v1/payment_intents"),
            b.fingerprint("POST", "/v1/payment_intents")
        );
        assert_ne!(
            a.fingerprint("POST", "/v1/payment_intents"),
            c.fingerprint("POST", "/v1/payment_intents")
        );
        assert_ne!(
            a.fingerprint("POST", "/v1/payment_intents"),
            a.fingerprint("POST", "/v1/refunds")
        );
    }
}
