//! Orders, their status machine and the rules of placing one.

use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    auth::{Caller, Role},
    checkout::{MAX_LINE_QUANTITY, MAX_ORDER_LINES, OrderLine, PricedLine},
    error::FieldError,
    money::{Currency, Money},
};
use uuid::Uuid;

/// Where an order stands.
///
/// ```text
/// PENDING ─▶ AWAITING_PAYMENT ─▶ CONFIRMED ─▶ SHIPPED ─▶ DELIVERED
///    │              │               │  │         │           │
///    └──────────────┴─▶ FAILED      │  └─▶ CANCELLED         │
///                                   └────────┴───────────────┴─▶ REFUNDED
/// any of them ─▶ NEEDS_ATTENTION (a compensation kept failing)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Accepted; the checkout is running.
    Pending,
    /// Waiting for the customer or the provider to confirm the payment.
    AwaitingPayment,
    /// Paid and reserved: it will ship.
    Confirmed,
    /// Handed to a carrier.
    Shipped,
    /// Delivered.
    Delivered,
    /// The checkout gave up (out of stock, declined, …); nothing is charged or held.
    Failed,
    /// Cancelled by the customer after confirmation; refunded and restocked.
    Cancelled,
    /// Refunded in full by an admin.
    Refunded,
    /// A compensation kept failing: an admin must look at it.
    NeedsAttention,
}

impl OrderStatus {
    /// The name used in JSON, storage and indexes.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::AwaitingPayment => "AWAITING_PAYMENT",
            Self::Confirmed => "CONFIRMED",
            Self::Shipped => "SHIPPED",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Refunded => "REFUNDED",
            Self::NeedsAttention => "NEEDS_ATTENTION",
        }
    }

    /// Parses [`OrderStatus::as_str`]'s names.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::AwaitingPayment,
            Self::Confirmed,
            Self::Shipped,
            Self::Delivered,
            Self::Failed,
            Self::Cancelled,
            Self::Refunded,
            Self::NeedsAttention,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// Whether the order can still change by itself (its checkout or cancellation is running).
    #[must_use]
    pub const fn is_in_checkout(self) -> bool {
        matches!(self, Self::Pending | Self::AwaitingPayment)
    }

    /// The statuses an order may move to `self` from.
    #[must_use]
    pub const fn allowed_from(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Pending => &[],
            AwaitingPayment => &[Pending],
            Confirmed => &[Pending, AwaitingPayment],
            Shipped => &[Confirmed],
            Delivered => &[Shipped],
            // A confirmed order fails when its confirmation is compensated.
            Failed => &[Pending, AwaitingPayment, Confirmed],
            Cancelled => &[Confirmed],
            Refunded => &[Confirmed, Shipped, Delivered],
            NeedsAttention => &[
                Pending,
                AwaitingPayment,
                Confirmed,
                Shipped,
                Delivered,
                Failed,
                Cancelled,
                Refunded,
            ],
        }
    }

    /// Whether an order in `self` may move to `next`.
    #[must_use]
    pub fn can_become(self, next: Self) -> bool {
        next.allowed_from().contains(&self)
    }
}

/// Where a parcel goes; the order keeps it as it was when placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShippingAddress {
    /// Who receives the parcel.
    #[schema(min_length = 1, max_length = 100)]
    pub recipient: String,
    /// Street line.
    #[schema(min_length = 1, max_length = 200)]
    pub line1: String,
    /// Second line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    /// City.
    #[schema(min_length = 1, max_length = 100)]
    pub city: String,
    /// State, province or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub region: Option<String>,
    /// Postal code.
    #[schema(min_length = 1, max_length = 20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country.
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: String,
    /// Phone for the carrier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 20)]
    pub phone: Option<String>,
}

fn text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    let chars = value.trim().chars().count();
    if chars == 0 {
        errors.push(FieldError::new(field, "is required"));
    } else if chars > max {
        errors.push(FieldError::new(
            field,
            format!("is at most {max} characters"),
        ));
    } else if value.chars().any(char::is_control) {
        errors.push(FieldError::new(field, "has control characters"));
    }
}

fn optional_text(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>, max: usize) {
    if let Some(value) = value {
        text(errors, field, value, max);
    }
}

impl ShippingAddress {
    /// Checks every field; the errors name them under `shippingAddress.`.
    #[must_use]
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        text(
            &mut errors,
            "shippingAddress.recipient",
            &self.recipient,
            100,
        );
        text(&mut errors, "shippingAddress.line1", &self.line1, 200);
        optional_text(
            &mut errors,
            "shippingAddress.line2",
            self.line2.as_deref(),
            200,
        );
        text(&mut errors, "shippingAddress.city", &self.city, 100);
        optional_text(
            &mut errors,
            "shippingAddress.region",
            self.region.as_deref(),
            100,
        );
        text(
            &mut errors,
            "shippingAddress.postalCode",
            &self.postal_code,
            20,
        );
        if self.country.len() != 2 || !self.country.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push(FieldError::new(
                "shippingAddress.country",
                "must be an ISO 3166-1 alpha-2 code such as US",
            ));
        }
        if let Some(phone) = &self.phone {
            let digits = phone.strip_prefix('+').unwrap_or(phone);
            if digits.len() < 4
                || phone.len() > 20
                || !digits.bytes().all(|b| b.is_ascii_digit() || b == b' ')
            {
                errors.push(FieldError::new(
                    "shippingAddress.phone",
                    "must be a phone number such as +15551234567",
                ));
            }
        }
        errors
    }
}

/// The body of `POST /v1/orders`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrder {
    /// Where to ship (copied from the address book by the client; kept as given).
    pub shipping_address: ShippingAddress,
    /// The lines; give them, or `fromCart`.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub lines: Option<Vec<OrderLine>>,
    /// Order what is in the cart (the lines are taken from it when the checkout starts).
    #[serde(default)]
    pub from_cart: Option<bool>,
    /// The provider's payment method (`pm_…`). Without one the payment waits for the client to
    /// confirm it with the client secret.
    #[serde(default)]
    #[schema(max_length = 100, pattern = "^[A-Za-z0-9_]+$")]
    pub payment_method: Option<String>,
}

/// A validated [`PlaceOrder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Where to ship.
    pub shipping_address: ShippingAddress,
    /// The client's lines (empty when from the cart).
    pub lines: Vec<OrderLine>,
    /// Whether the lines come from the cart.
    pub from_cart: bool,
    /// The payment method.
    pub payment_method: Option<String>,
}

impl TryFrom<PlaceOrder> for NewOrder {
    type Error = ApiError;

    fn try_from(body: PlaceOrder) -> Result<Self, ApiError> {
        let mut errors = body.shipping_address.problems();
        let from_cart = body.from_cart.unwrap_or(false);
        let lines = body.lines.unwrap_or_default();
        match (from_cart, lines.is_empty()) {
            (true, false) => {
                errors.push(FieldError::new("lines", "give lines or fromCart, not both"))
            }
            (false, true) => errors.push(FieldError::new(
                "lines",
                "give at least one line, or fromCart: true",
            )),
            _ => {}
        }
        if lines.len() > MAX_ORDER_LINES {
            errors.push(FieldError::new(
                "lines",
                format!("at most {MAX_ORDER_LINES} lines"),
            ));
        }
        for (i, line) in lines.iter().enumerate() {
            if line.quantity == 0 || line.quantity > MAX_LINE_QUANTITY {
                errors.push(FieldError::new(
                    format!("lines[{i}].quantity"),
                    format!("must be 1 to {MAX_LINE_QUANTITY}"),
                ));
            }
            if lines[..i].iter().any(|l| l.product_id == line.product_id) {
                errors.push(FieldError::new(
                    format!("lines[{i}].productId"),
                    "names a product twice; give one line per product",
                ));
            }
        }
        if let Some(method) = &body.payment_method
            && (method.is_empty()
                || method.len() > 100
                || !method
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            errors.push(FieldError::new(
                "paymentMethod",
                "must be a payment method id such as pm_card_visa",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(Self {
            shipping_address: body.shipping_address,
            lines,
            from_cart,
            payment_method: body.payment_method,
        })
    }
}

/// The payment as the order knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentState {
    /// The payment, once the payments service made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<Uuid>,
    /// `none`, `requires_payment_method`, `requires_action`, `processing`, `succeeded`,
    /// `canceled` or `refunded`.
    pub status: String,
    /// What the client needs to confirm the payment with the provider, while it waits for that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Refunded so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded: Option<Money>,
}

impl PaymentState {
    /// No payment yet.
    #[must_use]
    pub fn none() -> Self {
        Self {
            payment_id: None,
            status: "none".into(),
            client_secret: None,
            refunded: None,
        }
    }
}

/// Why an order failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureReason {
    /// A stable code: `OUT_OF_STOCK`, `PAYMENT_DECLINED`, `PAYMENT_TIMEOUT`,
    /// `PRODUCT_UNAVAILABLE`, `CART_EMPTY`, `PAYMENT_REJECTED` or `CHECKOUT_ERROR`.
    pub code: String,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl FailureReason {
    /// The reason for a saga error name and its cause.
    #[must_use]
    pub fn from_error(error: &str, cause: Option<&str>) -> Self {
        use shared::checkout::errors;
        let code = match error {
            errors::OUT_OF_STOCK => "OUT_OF_STOCK",
            errors::PAYMENT_DECLINED => "PAYMENT_DECLINED",
            errors::PAYMENT_REJECTED => "PAYMENT_REJECTED",
            errors::PRODUCT_UNAVAILABLE => "PRODUCT_UNAVAILABLE",
            errors::CART_EMPTY => "CART_EMPTY",
            "States.Timeout" => "PAYMENT_TIMEOUT",
            _ => "CHECKOUT_ERROR",
        };
        Self {
            code: code.to_owned(),
            detail: cause.map(|c| c.chars().take(500).collect()),
        }
    }
}

/// A carrier's reference for the parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tracking {
    /// The carrier.
    #[schema(min_length = 1, max_length = 50)]
    pub carrier: String,
    /// Its tracking number.
    #[schema(min_length = 1, max_length = 100)]
    pub tracking_number: String,
}

impl Tracking {
    /// Checks both fields.
    ///
    /// # Errors
    /// 400 naming the fields.
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        text(&mut errors, "carrier", &self.carrier, 50);
        text(&mut errors, "trackingNumber", &self.tracking_number, 100);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// The order id (UUIDv7; the checkout's execution is named by it).
    pub order_id: Uuid,
    /// Who placed it.
    pub user_id: Uuid,
    /// Where it stands.
    pub status: OrderStatus,
    /// Whether its lines come from the cart.
    pub from_cart: bool,
    /// The lines the client gave (empty when from the cart).
    #[serde(default)]
    pub requested_lines: Vec<OrderLine>,
    /// The lines with the prices charged, once priced and confirmed.
    #[serde(default)]
    pub lines: Vec<PricedLine>,
    /// What is charged, once confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
    /// The shop's currency.
    pub currency: Currency,
    /// Where it ships.
    pub shipping_address: ShippingAddress,
    /// The payment method given, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// The payment.
    pub payment: PaymentState,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureReason>,
    /// The carrier's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<Tracking>,
    /// The owner asked to cancel it (the cancellation is running).
    #[serde(default)]
    pub cancel_requested: bool,
    /// The correlation id of the request that placed it.
    pub correlation_id: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
    /// Grows by one with every change.
    pub version: u64,
}

impl Order {
    /// A new PENDING order.
    #[must_use]
    pub fn place(
        order_id: Uuid,
        user_id: Uuid,
        new: NewOrder,
        currency: Currency,
        correlation_id: &str,
    ) -> Self {
        let now = shared::time::now_rfc3339();
        Self {
            order_id,
            user_id,
            status: OrderStatus::Pending,
            from_cart: new.from_cart,
            requested_lines: new.lines,
            lines: Vec::new(),
            total: None,
            currency,
            shipping_address: new.shipping_address,
            payment_method: new.payment_method,
            payment: PaymentState::none(),
            failure: None,
            tracking: None,
            cancel_requested: false,
            correlation_id: correlation_id.to_owned(),
            created_at: now.clone(),
            updated_at: now,
            version: 1,
        }
    }

    /// Whether `caller` may see it: its owner, an admin, or a seller of one of its lines.
    #[must_use]
    pub fn visible_to(&self, caller: &Caller) -> bool {
        caller.user_id == self.user_id
            || caller.is(Role::Admin)
            || (caller.is(Role::Seller) && self.sold_by(caller.user_id))
    }

    /// Whether `seller` sells one of its lines.
    #[must_use]
    pub fn sold_by(&self, seller: Uuid) -> bool {
        self.lines.iter().any(|l| l.seller_id == seller)
    }

    /// Whether `caller` may move it along (ship, deliver, track): an admin, or a seller of one of
    /// its lines.
    #[must_use]
    pub fn fulfillable_by(&self, caller: &Caller) -> bool {
        caller.is(Role::Admin) || (caller.is(Role::Seller) && self.sold_by(caller.user_id))
    }
}

/// Who changed an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// `customer`, `seller`, `admin`, `checkout` (the saga) or `payments`.
    pub kind: String,
    /// The user, when a person did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
}

impl Actor {
    /// The checkout saga.
    #[must_use]
    pub fn checkout() -> Self {
        Self {
            kind: "checkout".into(),
            user_id: None,
        }
    }

    /// A signed-in user, by their role.
    #[must_use]
    pub fn user(caller: &Caller) -> Self {
        Self {
            kind: caller.role.as_str().to_owned(),
            user_id: Some(caller.user_id),
        }
    }
}

/// One change of an order's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The status before (absent for the first entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<OrderStatus>,
    /// The status after.
    pub to: OrderStatus,
    /// When, RFC 3339.
    pub at: String,
    /// Who.
    pub actor: Actor,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How the API shows an order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// The order id.
    pub order_id: Uuid,
    /// Who placed it.
    pub user_id: Uuid,
    /// Where it stands.
    pub status: OrderStatus,
    /// Whether its lines came from the cart.
    pub from_cart: bool,
    /// The lines with the prices charged, once confirmed; before that, the lines asked for.
    pub lines: Vec<serde_json::Value>,
    /// What is charged, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
    /// Where it ships.
    pub shipping_address: ShippingAddress,
    /// The payment; `clientSecret` only for the owner, while the payment waits.
    pub payment: PaymentState,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureReason>,
    /// The carrier's reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking: Option<Tracking>,
    /// The owner asked to cancel it and the cancellation is running.
    pub cancel_requested: bool,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

impl OrderView {
    /// `order` as `viewer` may see it.
    #[must_use]
    pub fn of(order: &Order, viewer: Uuid) -> Self {
        let mut payment = order.payment.clone();
        if viewer != order.user_id || order.status != OrderStatus::AwaitingPayment {
            payment.client_secret = None;
        }
        let lines = if order.lines.is_empty() {
            order
                .requested_lines
                .iter()
                .filter_map(|l| serde_json::to_value(l).ok())
                .collect()
        } else {
            order
                .lines
                .iter()
                .filter_map(|l| serde_json::to_value(l).ok())
                .collect()
        };
        Self {
            order_id: order.order_id,
            user_id: order.user_id,
            status: order.status,
            from_cart: order.from_cart,
            lines,
            total: order.total,
            shipping_address: order.shipping_address.clone(),
            payment,
            failure: order.failure.clone(),
            tracking: order.tracking.clone(),
            cancel_requested: order.cancel_requested,
            created_at: order.created_at.clone(),
            updated_at: order.updated_at.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn address() -> serde_json::Value {
        json!({"recipient": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London",
               "postalCode": "N1 9GU", "country": "GB"})
    }

    fn place(body: serde_json::Value) -> Result<NewOrder, ApiError> {
        NewOrder::try_from(serde_json::from_value::<PlaceOrder>(body).unwrap())
    }

    #[test]
    fn the_status_machine_allows_only_its_transitions() {
        use OrderStatus::*;
        assert!(Pending.can_become(AwaitingPayment));
        assert!(Pending.can_become(Confirmed));
        assert!(AwaitingPayment.can_become(Failed));
        assert!(Confirmed.can_become(Shipped));
        assert!(Shipped.can_become(Delivered));
        assert!(Confirmed.can_become(Cancelled));
        assert!(Delivered.can_become(Refunded));
        assert!(!Pending.can_become(Shipped));
        assert!(!Confirmed.can_become(Delivered));
        assert!(!Shipped.can_become(Cancelled));
        assert!(!Failed.can_become(Confirmed));
        assert!(!Cancelled.can_become(Confirmed));
        assert!(!NeedsAttention.can_become(Confirmed));
        for status in [Pending, Confirmed, Failed, Refunded] {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::parse("pending"), None);
    }

    #[test]
    fn an_order_gives_lines_or_takes_the_cart() {
        let product = Uuid::now_v7();
        let order = place(json!({"shippingAddress": address(),
            "lines": [{"productId": product, "quantity": 2}]}))
        .unwrap();
        assert!(!order.from_cart);
        assert_eq!(order.lines.len(), 1);
        assert!(
            place(json!({"shippingAddress": address(), "fromCart": true}))
                .unwrap()
                .from_cart
        );
        let neither = place(json!({"shippingAddress": address()})).unwrap_err();
        assert_eq!(neither.status(), 400);
        let both = place(json!({"shippingAddress": address(), "fromCart": true,
            "lines": [{"productId": product, "quantity": 1}]}))
        .unwrap_err();
        assert_eq!(both.status(), 400);
    }

    #[test]
    fn quantities_duplicates_addresses_and_payment_methods_are_checked() {
        let product = Uuid::now_v7();
        let error = place(
            json!({"shippingAddress": {"recipient": "", "line1": "x", "city": "y",
                "postalCode": "1", "country": "gb"},
            "lines": [{"productId": product, "quantity": 0}, {"productId": product, "quantity": 1}],
            "paymentMethod": "pm card"}),
        )
        .unwrap_err();
        let body =
            serde_json::to_value(error.problem(&shared::RequestContext::new("r", "c"))).unwrap();
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        for field in [
            "shippingAddress.recipient",
            "shippingAddress.country",
            "lines[0].quantity",
            "lines[1].productId",
            "paymentMethod",
        ] {
            assert!(fields.contains(&field), "{field} missing from {fields:?}");
        }
    }

    #[test]
    fn failure_reasons_are_stable_codes() {
        assert_eq!(
            FailureReason::from_error("OutOfStock", None).code,
            "OUT_OF_STOCK"
        );
        assert_eq!(
            FailureReason::from_error("States.Timeout", None).code,
            "PAYMENT_TIMEOUT"
        );
        assert_eq!(
            FailureReason::from_error("Lambda.Unknown", None).code,
            "CHECKOUT_ERROR"
        );
    }

    #[test]
    fn only_the_owner_sees_the_client_secret_and_only_while_the_payment_waits() {
        let owner = Uuid::now_v7();
        let new = place(json!({"shippingAddress": address(), "fromCart": true})).unwrap();
        let mut order = Order::place(Uuid::now_v7(), owner, new, Currency::USD, "c");
        order.status = OrderStatus::AwaitingPayment;
        order.payment.client_secret = Some("pi_1_secret_2".into());
        assert!(OrderView::of(&order, owner).payment.client_secret.is_some());
        assert!(
            OrderView::of(&order, Uuid::now_v7())
                .payment
                .client_secret
                .is_none()
        );
        order.status = OrderStatus::Confirmed;
        assert!(OrderView::of(&order, owner).payment.client_secret.is_none());
    }
}
