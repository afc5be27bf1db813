//! What `GET /v1/notifications` answers.

use serde::Serialize;
use uuid::Uuid;

use crate::{
    domain::{Channel, DeliveryStatus},
    store::Delivery,
};

/// One delivery, as its recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    /// The event that caused it.
    pub event_id: Uuid,
    /// That event's type (`OrderConfirmed`, `OrderShipped`, `PasswordResetRequested`, …).
    pub event_type: String,
    /// `EMAIL` or `SMS`.
    pub channel: Channel,
    /// The email address or phone number it went to.
    pub recipient: String,
    /// The message template.
    #[schema(example = "order_shipped")]
    pub template: String,
    /// The email's subject (absent for SMS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The order it is about (absent for account emails: email verification, password reset
    /// and change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    /// `SENDING`, `SENT`, `FAILED` or `UNCONFIRMED`.
    pub status: DeliveryStatus,
    /// The provider's message id, once sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// Why the provider refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The correlation id of the request behind it.
    pub correlation_id: String,
    /// When it was first attempted (RFC 3339).
    pub created_at: String,
    /// When its status last changed (RFC 3339).
    pub updated_at: String,
}

impl From<Delivery> for NotificationView {
    fn from(delivery: Delivery) -> Self {
        Self {
            event_id: delivery.event_id,
            event_type: delivery.event_type,
            channel: delivery.channel,
            recipient: delivery.recipient,
            template: delivery.template,
            subject: delivery.subject,
            order_id: delivery.order_id,
            status: delivery.status,
            provider_message_id: delivery.provider_message_id,
            error: delivery.error,
            correlation_id: delivery.correlation_id,
            created_at: delivery.created_at,
            updated_at: delivery.updated_at,
        }
    }
}

/// The OpenAPI document of the notification routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(crate::handlers::list_notifications::handle),
    tags((name = "notifications", description = "The emails and SMS sent to the caller"))
)]
pub struct ApiDoc;
