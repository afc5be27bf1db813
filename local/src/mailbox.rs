//! The emails and SMS the functions sent, as the emulator kept them (`GET /_local/emails`,
//! `GET /_local/sms` of `local/emulator/recording.py`): for tests to assert on, for
//! `local notifications` and for the console's `/notifications` page.
//!
//! ```no_run
//! # async fn example(stack: &local::testing::SharedStack) -> anyhow::Result<()> {
//! let emails = local::mailbox::emails(stack.emulator_endpoint()).await?;
//! let receipt = emails
//!     .iter()
//!     .rfind(|e| e.is_to("buyer@example.com"))
//!     .expect("a receipt");
//! assert!(receipt.subject.contains("Order"));
//! # Ok(()) }
//! ```

use std::fmt::Write as _;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::sfn::listing::table;

/// An email SES accepted (v2 `SendEmail`, or v1 `SendEmail` / `SendRawEmail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Email {
    /// The `MessageId` SES answered.
    pub message_id: String,
    /// When SES accepted it.
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    /// The sender (`FromEmailAddress`, or `Source`).
    pub from: String,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    #[serde(default)]
    pub reply_to: Vec<String>,
    #[serde(default)]
    pub subject: String,
    /// The text body, as sent.
    #[serde(default)]
    pub text: Option<String>,
    /// The HTML body, as sent.
    #[serde(default)]
    pub html: Option<String>,
}

impl Email {
    /// Every recipient: to, cc and bcc.
    pub fn recipients(&self) -> impl Iterator<Item = &str> {
        self.to
            .iter()
            .chain(&self.cc)
            .chain(&self.bcc)
            .map(String::as_str)
    }

    /// Whether `address` is among the recipients (ignoring case and a display name).
    pub fn is_to(&self, address: &str) -> bool {
        self.recipients()
            .any(|r| bare_address(r).eq_ignore_ascii_case(address.trim()))
    }
}

/// An SMS sent through SNS `Publish` with a `PhoneNumber`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sms {
    /// The `MessageId` SNS answered.
    pub message_id: String,
    /// When SNS accepted it (unknown for a message the emulator did not see being sent).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    pub phone_number: String,
    pub message: String,
}

/// Every email the emulator at `emulator_endpoint` accepted, oldest first (it keeps the last few
/// thousand).
///
/// # Errors
/// When the emulator cannot be reached or answers something else.
pub async fn emails(emulator_endpoint: &str) -> anyhow::Result<Vec<Email>> {
    get(emulator_endpoint, "/_local/emails").await
}

/// How many emails the emulator at `emulator_endpoint` has accepted since it started (all of
/// them, also those no longer kept): a cheap question to poll.
///
/// # Errors
/// When the emulator cannot be reached or answers something else.
pub async fn email_count(emulator_endpoint: &str) -> anyhow::Result<u64> {
    #[derive(serde::Deserialize)]
    struct Count {
        count: u64,
    }
    let count: Count = get(emulator_endpoint, "/_local/emails/count").await?;
    Ok(count.count)
}

/// Every SMS the emulator at `emulator_endpoint` accepted, oldest first (it keeps the last few
/// thousand).
///
/// # Errors
/// When the emulator cannot be reached or answers something else.
pub async fn sms(emulator_endpoint: &str) -> anyhow::Result<Vec<Sms>> {
    get(emulator_endpoint, "/_local/sms").await
}

async fn get<T: DeserializeOwned>(endpoint: &str, path: &str) -> anyhow::Result<T> {
    let (url, status, body) = get_raw(endpoint, path).await?;
    if !status.is_success() {
        bail!("GET {url}: {status} {}", String::from_utf8_lossy(&body));
    }
    serde_json::from_slice(&body).with_context(|| format!("read the answer of {url}"))
}

/// `GET endpoint + path` on one of the stack's own endpoints: the URL asked, the status and the
/// body.
pub(crate) async fn get_raw(
    endpoint: &str,
    path: &str,
) -> anyhow::Result<(String, http::StatusCode, Bytes)> {
    let url = format!("{}{path}", endpoint.trim_end_matches('/'));
    let uri: http::Uri = url.parse().with_context(|| format!("{url} is not a URL"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = client
        .get(uri)
        .await
        .with_context(|| format!("GET {url} (is the stack up?)"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("read the response of {url}"))?
        .to_bytes();
    Ok((url, status, body))
}

/// The email `which` names: its message id, or its number in `emails` (1 is the oldest, as
/// [`emails_table`] numbers them); `last` is the newest.
pub fn find<'a>(emails: &'a [Email], which: &str) -> Option<&'a Email> {
    let which = which.trim();
    if which == "last" {
        return emails.last();
    }
    if let Some(email) = emails.iter().find(|e| e.message_id == which) {
        return Some(email);
    }
    let n: usize = which.parse().ok()?;
    emails.get(n.checked_sub(1)?)
}

/// The emails as a table, numbered from 1 (oldest first): time, recipients, subject and
/// message id.
pub fn emails_table(emails: &[Email]) -> String {
    let rows: Vec<[String; 5]> = emails
        .iter()
        .enumerate()
        .map(|(i, email)| {
            [
                (i + 1).to_string(),
                date_time(email.sent_at),
                email.recipients().collect::<Vec<_>>().join(", "),
                one_line(&email.subject, 60),
                email.message_id.clone(),
            ]
        })
        .collect();
    table(["#", "SENT (UTC)", "TO", "SUBJECT", "MESSAGE ID"], &rows)
}

/// The SMS as a table, oldest first: time, phone number and text.
pub fn sms_table(sms: &[Sms]) -> String {
    let rows: Vec<[String; 3]> = sms
        .iter()
        .map(|sms| {
            [
                sms.sent_at.map_or_else(|| "-".to_owned(), date_time),
                sms.phone_number.clone(),
                one_line(&sms.message, 100),
            ]
        })
        .collect();
    table(["SENT (UTC)", "PHONE", "TEXT"], &rows)
}

/// One email as a person reads it: its headers, a blank line, then its text body (or, with
/// `html`, its HTML body).
pub fn show(email: &Email, html: bool) -> String {
    let mut out = String::new();
    let mut header = |name: &str, value: &str| {
        if !value.is_empty() {
            let _ = writeln!(out, "{name}: {value}");
        }
    };
    header("Message-Id", &email.message_id);
    header("Date", &date_time(email.sent_at));
    header("From", &email.from);
    header("To", &email.to.join(", "));
    header("Cc", &email.cc.join(", "));
    header("Bcc", &email.bcc.join(", "));
    header("Reply-To", &email.reply_to.join(", "));
    header("Subject", &email.subject);
    out.push('\n');
    let (body, missing) = if html {
        (&email.html, "(no HTML body)")
    } else {
        (&email.text, "(no text body; --html shows the HTML one)")
    };
    match body {
        Some(body) => {
            out.push_str(body);
            if !body.ends_with('\n') {
                out.push('\n');
            }
        }
        None => {
            out.push_str(missing);
            out.push('\n');
        }
    }
    out
}

/// `2024-05-01 12:00:00.000`.
pub(crate) fn date_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// `text` on one line, at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    format!("{cut}…")
}

/// `jane@example.com` from `Jane Doe <jane@example.com>` (or from itself).
fn bare_address(recipient: &str) -> &str {
    match (recipient.rfind('<'), recipient.rfind('>')) {
        (Some(start), Some(end)) if start < end => recipient[start + 1..end].trim(),
        _ => recipient.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(id: &str, to: &str, subject: &str) -> Email {
        Email {
            message_id: id.into(),
            sent_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            from: "orders@storefront.example".into(),
            to: vec![to.into()],
            cc: Vec::new(),
            bcc: vec!["audit@storefront.example".into()],
            reply_to: Vec::new(),
            subject: subject.into(),
            text: Some("Thanks for your order.".into()),
            html: Some("<p>Thanks</p>".into()),
        }
    }

    #[test]
    fn emails_read_the_emulators_json() {
        let emails: Vec<Email> = serde_json::from_str(
            r#"[{"messageId": "m-1", "sentAt": "2024-05-01T12:00:00.125Z",
                 "from": "orders@storefront.example", "to": ["a@example.com"], "cc": [],
                 "bcc": [], "replyTo": [], "subject": "Hi", "text": "t", "html": null}]"#,
        )
        .unwrap();
        assert_eq!(emails[0].message_id, "m-1");
        assert_eq!(date_time(emails[0].sent_at), "2024-05-01 12:00:00.125");
        assert_eq!(emails[0].html, None);
        let sms: Vec<Sms> = serde_json::from_str(
            r#"[{"messageId": "s-1", "sentAt": null, "phoneNumber": "+15555550100",
                 "message": "Your code", "accountId": "123456789012", "region": "us-east-1"}]"#,
        )
        .unwrap();
        assert_eq!(sms[0].sent_at, None);
        assert_eq!(sms[0].phone_number, "+15555550100");
    }

    #[test]
    fn recipients_match_with_or_without_a_display_name() {
        let mut e = email("m-1", "Jane Doe <Jane@Example.com>", "Hi");
        assert!(e.is_to("jane@example.com"));
        assert!(e.is_to("audit@storefront.example"));
        assert!(!e.is_to("orders@storefront.example"));
        e.to = vec!["plain@example.com".into()];
        assert!(e.is_to("plain@example.com"));
    }

    #[test]
    fn an_email_is_found_by_id_number_or_last() {
        let emails = [email("m-1", "a@x", "One"), email("m-2", "b@x", "Two")];
        assert_eq!(
            find(&emails, "m-2").map(|e| e.subject.as_str()),
            Some("Two")
        );
        assert_eq!(find(&emails, "1").map(|e| e.subject.as_str()), Some("One"));
        assert_eq!(
            find(&emails, "last").map(|e| e.subject.as_str()),
            Some("Two")
        );
        assert_eq!(find(&emails, "0"), None);
        assert_eq!(find(&emails, "3"), None);
        assert_eq!(find(&emails, "m-9"), None);
    }

    #[test]
    fn listings_have_one_row_each() {
        let listing = emails_table(&[email("m-1", "a@x", "Your order\nwas placed")]);
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines.len(), 2, "{listing}");
        assert!(lines[0].starts_with("#  SENT (UTC)"), "{listing}");
        assert!(
            lines[1].contains(
                "2023-11-14 22:13:20.000  a@x, audit@storefront.example  Your order was placed  m-1"
            ),
            "{listing}"
        );
        let sms = sms_table(&[Sms {
            message_id: "s-1".into(),
            sent_at: None,
            phone_number: "+15555550100".into(),
            message: "Your code is 1234".into(),
        }]);
        assert!(
            sms.lines()
                .nth(1)
                .is_some_and(|l| l == "-           +15555550100  Your code is 1234"),
            "{sms}"
        );
    }

    #[test]
    fn show_prints_the_headers_then_the_chosen_body() {
        let e = email("m-1", "a@x", "Hi");
        let text = show(&e, false);
        assert!(
            text.starts_with("Message-Id: m-1\nDate: 2023-11-14 22:13:20.000\n"),
            "{text}"
        );
        assert!(text.contains("Bcc: audit@storefront.example\n"), "{text}");
        assert!(!text.contains("Cc: \n"), "{text}");
        assert!(
            text.ends_with("Subject: Hi\n\nThanks for your order.\n"),
            "{text}"
        );
        assert!(show(&e, true).ends_with("\n\n<p>Thanks</p>\n"));
        let bare = Email { html: None, ..e };
        assert!(show(&bare, true).ends_with("(no HTML body)\n"));
    }
}
