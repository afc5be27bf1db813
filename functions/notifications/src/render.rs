//! The messages: each notice rendered from the template files under `templates/` (compiled into
//! the binary) with minijinja.
//!
//! A notice named `order_shipped` has four files: `order_shipped.subject.txt`,
//! `order_shipped.txt` (the text part), `order_shipped.html` (the HTML part, which extends
//! `layout.html`) and `order_shipped.sms.txt`. HTML templates escape every value (minijinja
//! escapes templates whose name ends in `.html`); text templates do not, and the subject is
//! flattened to one line.

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
        for notice in [
            "order_confirmed",
            "order_failed",
            "order_cancelled",
            "order_shipped",
            "order_delivered",
            "payment_refunded",
        ] {
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
}
