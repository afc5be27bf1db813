//! The providers: emails through SES v2 (`SendEmail`, simple content with a text and an HTML
//! part), SMS through SNS (`Publish` to a phone number, transactional).
//!
//! A provider's answer is one of three: accepted (its message id), refused for good (the
//! address or number is not valid, the message was rejected: recorded as `FAILED`, never
//! retried), or not reached (throttling, a network or service failure, a paused account: the
//! claim is given back and the event retried).

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sns::types::MessageAttributeValue;
use shared::error::BoxError;

use crate::render::Email;

/// Why a message did not go out.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The provider refused this message for good.
    #[error("refused: {0}")]
    Refused(String),
    /// The provider could not be reached or asked to come back later.
    #[error("provider unavailable")]
    Unavailable(#[source] BoxError),
}

/// Error codes that refuse one message for good (SES v2 and SNS).
const REFUSALS: &[&str] = &[
    // SES v2
    "MessageRejected",
    "BadRequestException",
    // SNS
    "InvalidParameter",
    "InvalidParameterValue",
    "InvalidParameterException",
    "InvalidParameterValueException",
];

fn classify<E, R>(error: aws_sdk_sesv2::error::SdkError<E, R>) -> SendError
where
    E: aws_sdk_sesv2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_sesv2::error::ProvideErrorMetadata as _;
    match error.code() {
        Some(code) if REFUSALS.contains(&code) => SendError::Refused(format!(
            "{code}: {}",
            error.message().unwrap_or("no message")
        )),
        _ => SendError::Unavailable(Box::new(error)),
    }
}

/// The two providers.
#[derive(Debug, Clone)]
pub struct Providers {
    ses: aws_sdk_sesv2::Client,
    sns: aws_sdk_sns::Client,
    /// The `From` address (a verified SES identity).
    sender: String,
}

fn content(data: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::Unavailable(Box::new(e)))
}

impl Providers {
    /// Providers from `config`, sending emails from `sender`.
    #[must_use]
    pub fn new(config: &aws_config::SdkConfig, sender: impl Into<String>) -> Self {
        Self {
            ses: aws_sdk_sesv2::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            sender: sender.into(),
        }
    }

    /// Sends `email` to `to`; returns SES's message id.
    ///
    /// # Errors
    /// As the module says.
    pub async fn email(&self, to: &str, email: &Email) -> Result<String, SendError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .text(content(&email.text)?)
                    .html(content(&email.html)?)
                    .build(),
            )
            .build();
        let output = self
            .ses
            .send_email()
            .from_email_address(&self.sender)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(classify)?;
        output
            .message_id
            .ok_or_else(|| SendError::Unavailable("SES answered without a message id".into()))
    }

    /// Sends `text` by SMS to `phone` (E.164); returns SNS's message id.
    ///
    /// # Errors
    /// As the module says.
    pub async fn sms(&self, phone: &str, text: &str) -> Result<String, SendError> {
        let transactional = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| SendError::Unavailable(Box::new(e)))?;
        let output = self
            .sns
            .publish()
            .phone_number(phone)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", transactional)
            .send()
            .await
            .map_err(classify)?;
        output
            .message_id
            .ok_or_else(|| SendError::Unavailable("SNS answered without a message id".into()))
    }
}
