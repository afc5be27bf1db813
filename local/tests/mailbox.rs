//! The emulator's mailbox: every email SES accepts (text and HTML bodies as sent, simple or raw)
//! and every SMS sent through SNS, read through `local::mailbox`, `local notifications` and the
//! console's `/notifications`.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, RawMessage};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use local::emulator::{Emulator, Kind};
use local::mailbox;

const SENDER: &str = "orders@storefront.example";

fn content(data: &str) -> Content {
    Content::builder().data(data).build().unwrap()
}

fn simple(subject: &str, text: Option<&str>, html: Option<&str>) -> EmailContent {
    let body = Body::builder()
        .set_text(text.map(content))
        .set_html(html.map(content))
        .build();
    EmailContent::builder()
        .simple(
            Message::builder()
                .subject(content(subject))
                .body(body)
                .build(),
        )
        .build()
}

/// `local notifications <args>` against the emulator: (success, stdout, stderr).
async fn cli(endpoint: &str, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_local"))
        .arg("notifications")
        .args(["--endpoint", endpoint])
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn http_get(url: &str) -> (u16, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let response = client.get(url.parse().unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn sent_emails_and_sms_are_kept_with_everything_they_said(kind: Kind) {
    let emulator = Emulator::start_kind(&local::paths::repo_root(), kind, 0)
        .await
        .unwrap();
    let endpoint = emulator.endpoint().to_owned();
    let config = emulator.sdk_config().await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);

    // Nothing yet; a send from an unverified address is refused and not kept.
    assert!(mailbox::emails(&endpoint).await.unwrap().is_empty());
    assert!(mailbox::sms(&endpoint).await.unwrap().is_empty());
    let refused = ses
        .send_email()
        .from_email_address(SENDER)
        .destination(Destination::builder().to_addresses("a@example.com").build())
        .content(simple("Refused", Some("text"), None))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(mailbox::emails(&endpoint).await.unwrap().is_empty());

    // Simple content keeps both bodies (the emulator itself keeps the HTML one only).
    ses.create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .unwrap();
    let receipt = ses
        .send_email()
        .from_email_address(SENDER)
        .destination(
            Destination::builder()
                .to_addresses("Jane Doe <jane@example.com>")
                .cc_addresses("cc@example.com")
                .bcc_addresses("audit@storefront.example")
                .build(),
        )
        .reply_to_addresses("help@storefront.example")
        .content(simple(
            "Your order is confirmed",
            Some("Order o-1: 2 items, 25.00 EUR. Thank you, Jané."),
            Some("<h1>Thank you, Jané</h1><p>Order <b>o-1</b></p>"),
        ))
        .send()
        .await
        .unwrap();

    // Raw content: its MIME parts are read.
    let raw = "From: Orders <orders@storefront.example>\r\n\
               To: raw@example.com\r\n\
               Subject: Raw receipt\r\n\
               MIME-Version: 1.0\r\n\
               Content-Type: multipart/alternative; boundary=b1\r\n\r\n\
               --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nRaw text\r\n\
               --b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Raw html</p>\r\n\
               --b1--\r\n";
    let raw_sent = ses
        .send_email()
        .from_email_address(SENDER)
        .destination(
            Destination::builder()
                .to_addresses("raw@example.com")
                .build(),
        )
        .content(
            EmailContent::builder()
                .raw(
                    RawMessage::builder()
                        .data(Blob::new(raw.as_bytes()))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let sms_id = sns
        .publish()
        .phone_number("+15555550100")
        .message("Your order o-1 has shipped.")
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();

    let emails = mailbox::emails(&endpoint).await.unwrap();
    assert_eq!(emails.len(), 2, "{emails:?}");
    let first = &emails[0];
    assert_eq!(Some(first.message_id.as_str()), receipt.message_id());
    assert_eq!(first.from, SENDER);
    assert_eq!(first.to, ["Jane Doe <jane@example.com>"]);
    assert_eq!(first.cc, ["cc@example.com"]);
    assert_eq!(first.bcc, ["audit@storefront.example"]);
    assert_eq!(first.reply_to, ["help@storefront.example"]);
    assert!(first.is_to("jane@example.com") && first.is_to("audit@storefront.example"));
    assert_eq!(first.subject, "Your order is confirmed");
    assert_eq!(
        first.text.as_deref(),
        Some("Order o-1: 2 items, 25.00 EUR. Thank you, Jané.")
    );
    assert_eq!(
        first.html.as_deref(),
        Some("<h1>Thank you, Jané</h1><p>Order <b>o-1</b></p>")
    );
    let age = time::OffsetDateTime::now_utc() - first.sent_at;
    assert!(age.whole_seconds().abs() < 60, "sent {age} ago");
    let second = &emails[1];
    assert_eq!(Some(second.message_id.as_str()), raw_sent.message_id());
    assert_eq!(second.subject, "Raw receipt");
    assert_eq!(second.to, ["raw@example.com"]);
    assert_eq!(second.text.as_deref().map(str::trim_end), Some("Raw text"));
    assert_eq!(
        second.html.as_deref().map(str::trim_end),
        Some("<p>Raw html</p>")
    );

    let sms = mailbox::sms(&endpoint).await.unwrap();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0].message_id, sms_id);
    assert_eq!(sms[0].phone_number, "+15555550100");
    assert_eq!(sms[0].message, "Your order o-1 has shipped.");
    assert!(sms[0].sent_at.is_some());

    // `local notifications` lists both kinds, and shows one email's text or HTML body.
    let (ok, listing, stderr) = cli(&endpoint, &[]).await;
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[0].starts_with("#  SENT (UTC)"), "{listing}");
    assert!(
        lines[1].starts_with("1  ")
            && lines[1].contains("Jane Doe <jane@example.com>, cc@example.com")
            && lines[1].contains("Your order is confirmed")
            && lines[1].ends_with(&first.message_id),
        "{listing}"
    );
    assert!(lines[2].starts_with("2  ") && lines[2].contains("Raw receipt"));
    assert!(
        listing.contains("+15555550100  Your order o-1 has shipped."),
        "{listing}"
    );
    let (ok, shown, stderr) = cli(&endpoint, &["--show", "1"]).await;
    assert!(ok, "{stderr}");
    assert!(
        shown.contains("From: orders@storefront.example\n")
            && shown.contains("Subject: Your order is confirmed\n")
            && shown.ends_with("\n\nOrder o-1: 2 items, 25.00 EUR. Thank you, Jané.\n"),
        "{shown}"
    );
    let (ok, shown, stderr) = cli(&endpoint, &["--show", &first.message_id, "--html"]).await;
    assert!(ok, "{stderr}");
    assert!(
        shown.ends_with("\n\n<h1>Thank you, Jané</h1><p>Order <b>o-1</b></p>\n"),
        "{shown}"
    );
    let (ok, _, stderr) = cli(&endpoint, &["--show", "7"]).await;
    assert!(
        !ok && stderr.contains("no email \"7\" among the 2 sent"),
        "{stderr}"
    );

    // The console shows them newest first.
    let console =
        local::console::Console::start(0, "http://127.0.0.1:3000", &endpoint, Arc::default())
            .await
            .unwrap();
    let (status, body) = http_get(&format!("{}/notifications.json", console.url())).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["emails"][0]["subject"], "Raw receipt");
    assert_eq!(json["emails"][1]["subject"], "Your order is confirmed");
    assert_eq!(json["sms"][0]["phoneNumber"], "+15555550100");
    let (status, page) = http_get(&format!("{}/notifications", console.url())).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<iframe sandbox srcdoc=\"&lt;h1&gt;Thank you, Jané&lt;/h1&gt;"),
        "{page}"
    );
    assert!(page.find("Raw receipt") < page.find("Your order is confirmed"));
    console.shutdown().await;
    emulator.stop().await;
}

/// Each check runs on both emulators: `<check>::ministack` and `<check>::moto`.
macro_rules! on_both_emulators {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            use local::emulator::Kind;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ministack() {
                super::$check(Kind::MiniStack).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moto() {
                super::$check(Kind::Moto).await;
            }
        }
    )*};
}

on_both_emulators!(sent_emails_and_sms_are_kept_with_everything_they_said);
