//! What the service knows: the notices an event asks for (order notices here, account emails in
//! [`account`]), the channels, and the states of a delivery.

pub mod account;

use serde::{Deserialize, Serialize};
use shared::{
    checkout::PricedLine,
    consumer::{self, Failure},
    events::{
        RawEnvelope,
        orders::{OrderCancelled, OrderConfirmed, OrderDelivered, OrderFailed, OrderShipped},
        payments::PaymentRefunded,
    },
    money::Money,
};
use uuid::Uuid;

/// How a notice reaches its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Channel {
    /// An email through SES, to the account's address.
    Email,
    /// An SMS through SNS, to the profile's phone, when the user opted in.
    Sms,
}

impl Channel {
    /// The stored and published name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Email => "EMAIL",
            Self::Sms => "SMS",
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DeliveryStatus {
    /// Claimed; the provider is being asked. Lasts one attempt at most.
    Sending,
    /// The provider accepted it (its message id is recorded).
    Sent,
    /// The provider refused it for good (a rejected or suppressed address, an invalid number).
    Failed,
    /// An attempt died between asking the provider and recording its answer, so whether it
    /// went out is unknown. It is not sent again: nothing is ever sent twice.
    Unconfirmed,
}

impl DeliveryStatus {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "SENDING",
            Self::Sent => "SENT",
            Self::Failed => "FAILED",
            Self::Unconfirmed => "UNCONFIRMED",
        }
    }
}

/// A line of an order as the templates show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineView {
    /// The product's name when ordered.
    pub name: String,
    /// Units.
    pub quantity: u32,
    /// Formatted unit price.
    pub unit_price: String,
    /// Formatted line total.
    pub line_total: String,
}

/// What the templates of one notice read (besides the shop's and the recipient's names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// The order's lines, where the event has them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineView>,
    /// The order's total (or what a cancellation refunded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    /// Why an order failed, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The carrier of a shipped order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// Its tracking number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// A refund's amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Whether a refund returned everything paid.
    pub full: bool,
}

/// One notice an event asks for: who gets it, about which order, from which templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The template base name (`order_confirmed`, …).
    pub template: &'static str,
    /// The recipient.
    pub user_id: Uuid,
    /// The order it is about.
    pub order_id: Uuid,
    /// What the templates show.
    pub facts: Facts,
}

/// The event types this service turns into notices (its queue's filter policy).
pub const NOTIFIED_EVENTS: &[&str] = &[
    "OrderConfirmed",
    "OrderFailed",
    "OrderCancelled",
    "OrderShipped",
    "OrderDelivered",
    "PaymentRefunded",
    "EmailVerificationRequested",
    "RegistrationAttempted",
    "PasswordResetRequested",
    "PasswordChanged",
];

/// What an event asks the service to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A notice about an order: by email to the contact projection's address, and by SMS when
    /// the user opted in.
    Order(Notice),
    /// An account email: to the address in the event, by email only.
    Account(account::AccountNotice),
}

/// What `event` asks the service to send.
///
/// # Errors
/// [`Failure::Poison`] for a type or version this service does not know, or data that does not
/// fit its type.
pub fn request(event: &RawEnvelope) -> Result<Request, Failure> {
    match account::notice(event)? {
        Some(account) => Ok(Request::Account(account)),
        None => notice(event).map(Request::Order),
    }
}

/// The notice `event` asks for.
///
/// # Errors
/// [`Failure::Poison`] for a type or version this service does not know, or data that does not
/// fit its type.
pub fn notice(event: &RawEnvelope) -> Result<Notice, Failure> {
    if let Some(e) = consumer::typed::<OrderConfirmed>(event)? {
        return Ok(Notice {
            template: "order_confirmed",
            user_id: e.user_id,
            order_id: e.order_id,
            facts: Facts {
                lines: lines(&e.lines),
                total: Some(format_money(e.total)),
                ..Facts::default()
            },
        });
    }
    if let Some(e) = consumer::typed::<OrderFailed>(event)? {
        return Ok(Notice {
            template: "order_failed",
            user_id: e.user_id,
            order_id: e.order_id,
            facts: Facts {
                reason: Some(failure_reason(&e.reason).to_owned()),
                ..Facts::default()
            },
        });
    }
    if let Some(e) = consumer::typed::<OrderCancelled>(event)? {
        return Ok(Notice {
            template: "order_cancelled",
            user_id: e.user_id,
            order_id: e.order_id,
            facts: Facts {
                lines: lines(&e.lines),
                total: e.total.map(format_money),
                ..Facts::default()
            },
        });
    }
    if let Some(e) = consumer::typed::<OrderShipped>(event)? {
        return Ok(Notice {
            template: "order_shipped",
            user_id: e.user_id,
            order_id: e.order_id,
            facts: Facts {
                carrier: e.carrier,
                tracking_number: e.tracking_number,
                ..Facts::default()
            },
        });
    }
    if let Some(e) = consumer::typed::<OrderDelivered>(event)? {
        return Ok(Notice {
            template: "order_delivered",
            user_id: e.user_id,
            order_id: e.order_id,
            facts: Facts::default(),
        });
    }
    if let Some(e) = consumer::typed::<PaymentRefunded>(event)? {
        return Ok(Notice {
            template: "payment_refunded",
            user_id: e.user_id,
            order_id: e.order_id,
            facts: Facts {
                amount: Some(format_money(e.amount)),
                full: e.full,
                ..Facts::default()
            },
        });
    }
    Err(consumer::unexpected(event))
}

fn lines(lines: &[PricedLine]) -> Vec<LineView> {
    lines
        .iter()
        .map(|line| LineView {
            name: line.name.clone(),
            quantity: line.quantity,
            unit_price: format_money(line.unit_price),
            line_total: format_money(line.line_total),
        })
        .collect()
}

/// An order's failure code (`OrderFailed.reason`) as a sentence for its customer.
#[must_use]
pub fn failure_reason(code: &str) -> &'static str {
    match code {
        "OUT_OF_STOCK" => "an item is out of stock.",
        "PAYMENT_DECLINED" => "your payment was declined.",
        "PAYMENT_TIMEOUT" => "the payment was not completed in time.",
        "PRODUCT_UNAVAILABLE" => "an item is no longer available.",
        "CART_EMPTY" => "your cart was empty.",
        _ => "something went wrong on our side.",
    }
}

/// How many digits follow the decimal point in `currency`'s minor units (ISO 4217).
fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `amount` for people: `1,234.50 USD`, `1,200 JPY`, `-3.00 EUR`.
#[must_use]
pub fn format_money(money: Money) -> String {
    let currency = money.currency.as_str();
    let scale = 10_u64.pow(exponent(currency));
    let magnitude = money.amount.unsigned_abs();
    let (units, cents) = (magnitude / scale, magnitude % scale);
    let digits = units.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if money.amount < 0 { "-" } else { "" };
    match exponent(currency) {
        0 => format!("{sign}{grouped} {currency}"),
        e => format!(
            "{sign}{grouped}.{cents:0width$} {currency}",
            width = e as usize
        ),
    }
}

/// The last 8 characters of an order id, upper-case: short enough for an SMS, and from the id's
/// random part (the first characters of a UUIDv7 are its time).
#[must_use]
pub fn short_id(id: Uuid) -> String {
    let text = id.simple().to_string();
    text[text.len() - 8..].to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::{events::Envelope, money::Currency};

    fn event(event_type: &str, data: serde_json::Value) -> RawEnvelope {
        Envelope::new(event_type, data, "corr-1")
    }

    #[test]
    fn money_is_formatted_with_the_currency_s_minor_units() {
        let m = |amount, code| format_money(Money::new(amount, Currency::parse(code).unwrap()));
        assert_eq!(m(9998, "USD"), "99.98 USD");
        assert_eq!(m(5, "EUR"), "0.05 EUR");
        assert_eq!(m(123_456_789, "USD"), "1,234,567.89 USD");
        assert_eq!(m(1200, "JPY"), "1,200 JPY");
        assert_eq!(m(1500, "KWD"), "1.500 KWD");
        assert_eq!(m(-300, "EUR"), "-3.00 EUR");
        assert_eq!(m(0, "USD"), "0.00 USD");
    }

    #[test]
    fn the_sample_event_is_an_order_confirmed_with_its_lines_and_total() {
        let sqs: shared::consumer::SqsEvent = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/notification-events.json"
        )))
        .unwrap();
        let envelope: RawEnvelope = serde_json::from_str(&sqs.records[0].body).unwrap();
        let notice = notice(&envelope).unwrap();
        assert_eq!(notice.template, "order_confirmed");
        assert_eq!(notice.facts.lines.len(), 1);
        assert_eq!(notice.facts.lines[0].line_total, "99.98 USD");
        assert_eq!(notice.facts.total.as_deref(), Some("99.98 USD"));
    }

    #[test]
    fn each_event_type_gets_its_notice() {
        let (order, user) = (Uuid::now_v7(), Uuid::now_v7());
        let ids = json!({"orderId": order, "userId": user});
        let with = |extra: serde_json::Value| {
            let mut data = ids.clone();
            data.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            data
        };
        let cases = [
            (
                event("OrderFailed", with(json!({"reason": "OUT_OF_STOCK"}))),
                "order_failed",
            ),
            (
                event("OrderCancelled", with(json!({"lines": []}))),
                "order_cancelled",
            ),
            (
                event(
                    "OrderShipped",
                    with(json!({"carrier": "UPS", "trackingNumber": "1Z9"})),
                ),
                "order_shipped",
            ),
            (event("OrderDelivered", ids.clone()), "order_delivered"),
            (
                event(
                    "PaymentRefunded",
                    with(
                        json!({"paymentId": Uuid::now_v7(), "amount": {"amount": 500, "currency": "USD"},
                        "full": false, "restock": false, "refundId": "re_1"}),
                    ),
                ),
                "payment_refunded",
            ),
        ];
        for (event, template) in cases {
            let notice = notice(&event).unwrap();
            assert_eq!(
                (notice.template, notice.order_id, notice.user_id),
                (template, order, user)
            );
        }
        let shipped = notice(&event(
            "OrderShipped",
            with(json!({"carrier": "UPS", "trackingNumber": "1Z9"})),
        ))
        .unwrap();
        assert_eq!(shipped.facts.tracking_number.as_deref(), Some("1Z9"));
        let failed = notice(&event(
            "OrderFailed",
            with(json!({"reason": "PAYMENT_DECLINED"})),
        ))
        .unwrap();
        assert_eq!(
            failed.facts.reason.as_deref(),
            Some("your payment was declined.")
        );
    }

    #[test]
    fn unknown_types_versions_and_missing_fields_are_poison() {
        let order = Uuid::now_v7();
        let cases = [
            event("OrderPlaced", json!({"orderId": order, "userId": order})),
            event("OrderDelivered", json!({"orderId": order, "userId": order})).with_version(2),
            event("OrderShipped", json!({"orderId": order})),
            event(
                "OrderConfirmed",
                json!({"orderId": "nope", "userId": order}),
            ),
        ];
        for case in cases {
            assert!(
                matches!(notice(&case), Err(Failure::Poison(_))),
                "{} v{}",
                case.event_type,
                case.version
            );
        }
    }

    #[test]
    fn account_events_ask_for_account_emails_and_order_events_for_order_notices() {
        let user = Uuid::now_v7();
        let attempted = event(
            "RegistrationAttempted",
            json!({"userId": user, "email": "a@example.com"}),
        );
        assert!(matches!(
            request(&attempted),
            Ok(Request::Account(notice)) if notice.user_id == user
        ));
        let delivered = event("OrderDelivered", json!({"orderId": user, "userId": user}));
        assert!(matches!(
            request(&delivered),
            Ok(Request::Order(notice)) if notice.template == "order_delivered"
        ));
        let unknown = event("UserRegistered", json!({"userId": user}));
        assert!(matches!(request(&unknown), Err(Failure::Poison(_))));
    }

    #[test]
    fn short_ids_come_from_the_random_end() {
        let id: Uuid = "0193a5c0-1a2b-7c3d-8e4f-5a6b7c8d9e0f".parse().unwrap();
        assert_eq!(short_id(id), "7C8D9E0F");
    }
}
