//! The messages: each notice rendered from the template files under `templates/` (compiled into
//! the binary) with minijinja.
//!
//! An order notice named `order_shipped` has four files: `order_shipped.subject.txt`,
//! `order_shipped.txt` (the text part), `order_shipped.html` (the HTML part, which extends
//! `layout.html`) and `order_shipped.sms.txt`. An account email ([`ACCOUNT_NOTICES`]) has the
//! first three only (it is never sent by SMS), and its HTML part extends `account_layout.html`,
//! whose footer speaks of the account instead of an order. HTML templates escape every value
//! (minijinja escapes templates whose name ends in `.html`); text templates do not, and the
//! subject is flattened to one line.

use minijinja::Environment;
use serde::Serialize;

/// A template file under `templates/`, by name.
macro_rules! template {
    ($name:literal) => {
        ($name, include_str!(concat!("../templates/", $name)))
    };
}

/// Every template file, by name.
const TEMPLATES: &[(&str, &str)] = &[
    template!("layout.html"),
    template!("lines.html"),
    template!("lines.txt"),
    template!("order_confirmed.subject.txt"),
    template!("order_confirmed.txt"),
    template!("order_confirmed.html"),
    template!("order_confirmed.sms.txt"),
    template!("order_failed.subject.txt"),
    template!("order_failed.txt"),
    template!("order_failed.html"),
    template!("order_failed.sms.txt"),
    template!("order_cancelled.subject.txt"),
    template!("order_cancelled.txt"),
    template!("order_cancelled.html"),
    template!("order_cancelled.sms.txt"),
    template!("order_shipped.subject.txt"),
    template!("order_shipped.txt"),
    template!("order_shipped.html"),
    template!("order_shipped.sms.txt"),
    template!("order_delivered.subject.txt"),
    template!("order_delivered.txt"),
    template!("order_delivered.html"),
    template!("order_delivered.sms.txt"),
    template!("payment_refunded.subject.txt"),
    template!("payment_refunded.txt"),
    template!("payment_refunded.html"),
    template!("payment_refunded.sms.txt"),
    template!("account_layout.html"),
    template!("verify_email.subject.txt"),
    template!("verify_email.txt"),
    template!("verify_email.html"),
    template!("account_exists.subject.txt"),
    template!("account_exists.txt"),
    template!("account_exists.html"),
    template!("password_reset.subject.txt"),
    template!("password_reset.txt"),
    template!("password_reset.html"),
    template!("password_changed.subject.txt"),
    template!("password_changed.txt"),
    template!("password_changed.html"),
];

/// The order notices: an email and an SMS each.
pub const ORDER_NOTICES: &[&str] = &[
    "order_confirmed",
    "order_failed",
    "order_cancelled",
    "order_shipped",
    "order_delivered",
    "payment_refunded",
];

/// The account emails: email only.
pub const ACCOUNT_NOTICES: &[&str] = &[
    "verify_email",
    "account_exists",
    "password_reset",
    "password_changed",
];

/// The longest SMS text sent; longer texts are cut (SNS takes up to 1,600 bytes).
pub const MAX_SMS_CHARS: usize = 480;

/// An email, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// One line.
    pub subject: String,
    /// The text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// A template that does not render: a defect of the template files, not of the event.
#[derive(Debug, thiserror::Error)]
#[error("template {name}: {source}")]
pub struct RenderError {
    name: String,
    #[source]
    source: minijinja::Error,
}

/// The compiled templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles every template.
    ///
    /// # Errors
    /// When a template file does not parse.
    pub fn load() -> Result<Self, RenderError> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|source| RenderError {
                    name: (*name).to_owned(),
                    source,
                })?;
        }
        Ok(Self { env })
    }

    fn render(&self, name: &str, context: &impl Serialize) -> Result<String, RenderError> {
        self.env
            .get_template(name)
            .and_then(|template| template.render(minijinja::value::Serde(context)))
            .map_err(|source| RenderError {
                name: name.to_owned(),
                source,
            })
    }

    /// The email of notice `notice` (a template base name such as `order_shipped`).
    ///
    /// # Errors
    /// When a template fails to render.
    pub fn email(&self, notice: &str, context: &impl Serialize) -> Result<Email, RenderError> {
        let subject = self.render(&format!("{notice}.subject.txt"), context)?;
        Ok(Email {
            subject: one_line(&subject),
            text: self.render(&format!("{notice}.txt"), context)?,
            html: self.render(&format!("{notice}.html"), context)?,
        })
    }

    /// The SMS text of notice `notice`, on one line and at most [`MAX_SMS_CHARS`] characters.
    ///
    /// # Errors
    /// When the template fails to render.
    pub fn sms(&self, notice: &str, context: &impl Serialize) -> Result<String, RenderError> {
        let text = one_line(&self.render(&format!("{notice}.sms.txt"), context)?);
        Ok(match text.char_indices().nth(MAX_SMS_CHARS - 1) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        })
    }
}

/// `text` with every run of whitespace and control characters made one space, trimmed: a subject
/// or SMS can never carry a line break (nor a header injected with one).
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn templates() -> Templates {
        Templates::load().unwrap()
    }

    #[test]
    fn every_notice_has_all_four_templates_and_they_render() {
        let templates = templates();
        let context = json!({"shop": "Shop", "order_id": "o-1", "order_short": "o-1",
            "lines": [], "total": "1.00 USD", "amount": "1.00 USD", "reason": "r"});
        for &notice in ORDER_NOTICES {
            let email = templates.email(notice, &context).unwrap();
            assert!(!email.subject.is_empty(), "{notice}");
            assert!(email.text.contains("o-1"), "{notice}: {}", email.text);
            assert!(email.html.starts_with("<!doctype html>"), "{notice}");
            assert!(templates.sms(notice, &context).unwrap().contains("Shop"));
        }
    }

    #[test]
    fn html_escapes_values_and_text_keeps_them() {
        let context = json!({"shop": "Shop", "name": "<b>Bo</b> & \"Al\"", "order_id": "o-1",
            "lines": [{"name": "<script>x</script>", "quantity": 1, "unit_price": "1.00 USD",
                       "line_total": "1.00 USD"}], "total": "1.00 USD"});
        let email = templates().email("order_confirmed", &context).unwrap();
        assert!(
            email
                .html
                .contains("&lt;b&gt;Bo&lt;&#x2f;b&gt; &amp; &quot;Al&quot;"),
            "{}",
            email.html
        );
        assert!(email.html.contains("&lt;script&gt;"));
        assert!(!email.html.contains("<script>"));
        assert!(email.text.contains("Hello <b>Bo</b> & \"Al\","));
        assert!(
            email
                .text
                .contains("1 x <script>x</script> at 1.00 USD = 1.00 USD")
        );
    }

    #[test]
    fn subjects_and_sms_are_one_line_and_sms_is_bounded() {
        let context = json!({"shop": "My\r\nBcc: x@evil.example", "order_id": "o", "order_short": "o",
            "total": "1 USD"});
        let email = templates().email("order_delivered", &context).unwrap();
        assert_eq!(
            email.subject,
            "Your My Bcc: x@evil.example order was delivered"
        );
        let long = json!({"shop": "s".repeat(2000), "order_short": "o", "total": "1 USD"});
        let sms = templates().sms("order_confirmed", &long).unwrap();
        assert_eq!(sms.chars().count(), MAX_SMS_CHARS);
        assert!(sms.ends_with('…'));
    }

    fn account_context(name: &str) -> serde_json::Value {
        json!({"shop": "Shop", "name": name, "email": "ada@example.com",
            "shop_url": "https://shop.example",
            "link": "https://shop.example/account/x?token=tok_EN-1",
            "forgot_password_link": "https://shop.example/account/forgot-password",
            "expires_at": "30 November 2026, 09:35 UTC", "valid_for": "30 minutes",
            "how": "reset with a link sent to this email address",
            "changed_at": "30 November 2026, 09:05 UTC"})
    }

    #[test]
    fn every_account_email_renders_without_an_order_and_has_no_sms() {
        let templates = templates();
        for &notice in ACCOUNT_NOTICES {
            let email = templates.email(notice, &account_context("Ada")).unwrap();
            assert!(!email.subject.is_empty(), "{notice}");
            assert!(
                email.subject.contains("Shop"),
                "{notice}: {}",
                email.subject
            );
            assert!(
                email.text.starts_with("Hello Ada,"),
                "{notice}: {}",
                email.text
            );
            assert!(email.html.starts_with("<!doctype html>"), "{notice}");
            assert!(
                email.html.contains("the Shop account of ada@example.com"),
                "{notice}: the account footer: {}",
                email.html
            );
            for part in [&email.subject, &email.text, &email.html] {
                let mut words = part.split(|c: char| !c.is_alphanumeric());
                assert!(
                    !words.any(|word| word.eq_ignore_ascii_case("order")),
                    "{notice}: {part}"
                );
            }
            assert!(templates.sms(notice, &account_context("Ada")).is_err());
        }
    }

    #[test]
    fn each_account_email_says_what_it_must() {
        let templates = templates();
        let email = |notice| templates.email(notice, &account_context("Ada")).unwrap();
        let link = "https://shop.example/account/x?token=tok_EN-1";
        let forgot = "https://shop.example/account/forgot-password";

        let verify = email("verify_email");
        assert!(verify.text.contains(link), "{}", verify.text);
        assert!(verify.text.contains("30 November 2026, 09:35 UTC"));
        assert!(
            verify
                .text
                .contains("If you did not create an account at Shop, ignore this email.")
        );
        assert!(
            verify.html.contains(
                "href=\"https:&#x2f;&#x2f;shop.example&#x2f;account&#x2f;x?token=tok_EN-1\""
            ),
            "{}",
            verify.html
        );

        let exists = email("account_exists");
        assert!(exists.text.contains("You already have an account"));
        assert!(exists.text.contains(forgot), "{}", exists.text);
        assert!(!exists.text.contains("token"), "no link with a token");
        assert!(!exists.html.contains("token"));

        let reset = email("password_reset");
        assert!(reset.text.contains(link), "{}", reset.text);
        assert!(reset.text.contains(
            "The link works once, for 30 minutes: it expires on 30 November 2026, 09:35 UTC."
        ));
        assert!(reset.text.contains("your password stays as it is"));

        let changed = email("password_changed");
        assert!(
            changed.text.contains(
                "was reset with a link sent to this email address on 30 November 2026, 09:05 UTC"
            ),
            "{}",
            changed.text
        );
        assert!(
            changed
                .text
                .contains("If this was not you, reset your password now")
        );
        assert!(changed.text.contains(forgot));
        assert!(!changed.text.contains("token"));
    }

    #[test]
    fn account_emails_escape_a_hostile_name_in_html() {
        let hostile = "<img src=x onerror=alert(1)> & \"Eve\"";
        for &notice in ACCOUNT_NOTICES {
            let email = templates()
                .email(notice, &account_context(hostile))
                .unwrap();
            assert!(!email.html.contains("<img"), "{notice}: {}", email.html);
            assert!(
                email
                    .html
                    .contains("Hello &lt;img src=x onerror=alert(1)&gt; &amp; &quot;Eve&quot;,"),
                "{notice}: {}",
                email.html
            );
            assert!(email.text.contains(&format!("Hello {hostile},")));
        }
    }

    #[test]
    fn order_emails_keep_their_order_footer() {
        let context = json!({"shop": "Shop", "order_id": "o-1"});
        let email = templates().email("order_delivered", &context).unwrap();
        assert!(
            email
                .html
                .contains("Order o-1. You receive this email because you placed an order at Shop."),
            "{}",
            email.html
        );
    }
}
