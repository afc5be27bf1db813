//! The account emails: what the identity service's `EmailVerificationRequested`,
//! `RegistrationAttempted`, `PasswordResetRequested` and `PasswordChanged` ask for, and the links
//! they carry.
//!
//! An account email goes to the address in its event, by email only: the contact projection may
//! not know a user who just registered, and a token belongs to the inbox it was asked for, never
//! to a phone.
//!
//! Tokens are single-use secrets. A [`Token`] never shows itself in `Debug` output, is not
//! serialized, and appears only inside the link of the message it is sent in: never in the
//! delivery log (which keeps the subject, template and recipient) nor in traces.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use shared::{
    consumer::{self, Failure},
    events::{
        RawEnvelope,
        identity::{
            EmailVerificationRequested, PasswordChange, PasswordChanged, PasswordResetRequested,
            RegistrationAttempted,
        },
    },
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The shop's page that verifies an email address with the `token` of the link.
pub const VERIFY_EMAIL_PATH: &str = "/account/verify-email";
/// The shop's page that sets a new password with the `token` of the link.
pub const RESET_PASSWORD_PATH: &str = "/account/reset-password";
/// The shop's page where a password reset is asked for.
pub const FORGOT_PASSWORD_PATH: &str = "/account/forgot-password";

/// The longest token accepted in an event (the identity service's are 43 characters).
const MAX_TOKEN_LEN: usize = 512;

/// The longest email address (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

/// Every byte but the URL's unreserved characters (RFC 3986: letters, digits, `-._~`) is
/// percent-encoded in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why `SHOP_URL` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidShopUrl(&'static str);

/// The shop's web address (`SHOP_URL`): an absolute `http` or `https` URL without a trailing
/// slash, a query or a fragment, onto which the account pages' paths are appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopUrl(String);

impl ShopUrl {
    /// Checks `text` (surrounding whitespace ignored).
    ///
    /// # Errors
    /// When it is not an absolute `http(s)` URL with a host, or has a trailing slash, a query, a
    /// fragment, credentials, or characters a URL cannot carry as they are.
    pub fn parse(text: &str) -> Result<Self, InvalidShopUrl> {
        let text = text.trim();
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or(InvalidShopUrl(
                "must be an absolute URL starting with https:// or http://",
            ))?;
        if text.ends_with('/') {
            return Err(InvalidShopUrl("must not end with a slash"));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, Some(port)),
            _ => (authority, None),
        };
        let host_fits = match host.strip_prefix('[') {
            Some(ip) => ip.strip_suffix(']').is_some_and(|ip| {
                !ip.is_empty()
                    && ip
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || ".:".contains(c))
            }),
            None => {
                !host.is_empty()
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
            }
        };
        if !host_fits {
            return Err(InvalidShopUrl(
                "must name a host of letters, digits, '-' and '.' (or an IPv6 address in brackets), without credentials",
            ));
        }
        if port.is_some_and(|port| port.is_empty() || !port.chars().all(|c| c.is_ascii_digit())) {
            return Err(InvalidShopUrl("the port must be a number"));
        }
        if path.contains("//") {
            return Err(InvalidShopUrl("the path must not hold an empty segment"));
        }
        if !path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%".contains(c))
        {
            return Err(InvalidShopUrl(
                "the path may hold only URL characters (no query, fragment or spaces)",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The shop's page at `path` (which starts with `/`), with `token` as its `token` query
    /// parameter, percent-encoded.
    #[must_use]
    pub fn link(&self, path: &str, token: Option<&Token>) -> String {
        match token {
            Some(token) => format!(
                "{}{path}?token={}",
                self.0,
                utf8_percent_encode(&token.0, QUERY_VALUE)
            ),
            None => format!("{}{path}", self.0),
        }
    }

    /// The address itself.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A single-use token from an event. Its `Debug` output hides it, and it is not serialized: it
/// only ever leaves as part of a link ([`ShopUrl::link`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The token of an event's data.
    ///
    /// # Errors
    /// [`Failure::Poison`] for an empty or overlong token, or one with whitespace or control
    /// characters; the message does not repeat the token.
    pub fn parse(event: &RawEnvelope, text: String) -> Result<Self, Failure> {
        let fits = !text.is_empty()
            && text.len() <= MAX_TOKEN_LEN
            && !text.chars().any(|c| c.is_whitespace() || c.is_control());
        if fits {
            Ok(Self(text))
        } else {
            Err(poison(
                event,
                "token is empty, too long, or holds whitespace or control characters",
            ))
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// What an account email is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountEmail {
    /// Confirm the address of a new account with the token's link.
    VerifyEmail(Link),
    /// Someone tried to register this address, which already has an account.
    AccountExists,
    /// Set a new password with the token's link.
    PasswordReset(Link),
    /// The password changed.
    PasswordChanged {
        /// How.
        how: PasswordChange,
        /// When.
        at: OffsetDateTime,
    },
}

/// A token and how long it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The token.
    pub token: Token,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// How long it worked for when the event was published (`expiresAt - occurredAt`), when
    /// that is positive.
    pub valid_for: Option<Duration>,
}

/// One account email an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountNotice {
    /// The account.
    pub user_id: Uuid,
    /// Where it goes: the address in the event.
    pub email: String,
    /// How to greet them.
    pub name: Option<String>,
    /// What it says.
    pub kind: AccountEmail,
}

/// What the account templates read (besides the shop's and the recipient's names).
#[derive(Serialize)]
pub struct AccountFacts {
    /// The address the email goes to.
    pub email: String,
    /// The shop's web address.
    pub shop_url: String,
    /// The link with the token (verification and reset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The page to ask for a password reset.
    pub forgot_password_link: String,
    /// When the link stops working, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// How long the link works, for people (`30 minutes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<String>,
    /// How a password changed, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub how: Option<&'static str>,
    /// When it changed, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
}

impl AccountNotice {
    /// The template base name.
    #[must_use]
    pub const fn template(&self) -> &'static str {
        match self.kind {
            AccountEmail::VerifyEmail(_) => "verify_email",
            AccountEmail::AccountExists => "account_exists",
            AccountEmail::PasswordReset(_) => "password_reset",
            AccountEmail::PasswordChanged { .. } => "password_changed",
        }
    }

    /// When the email's link stops working: an email sent after that would be useless.
    #[must_use]
    pub const fn expires_at(&self) -> Option<OffsetDateTime> {
        match &self.kind {
            AccountEmail::VerifyEmail(link) | AccountEmail::PasswordReset(link) => {
                Some(link.expires_at)
            }
            AccountEmail::AccountExists | AccountEmail::PasswordChanged { .. } => None,
        }
    }

    /// What its templates show, with links to the pages of `shop_url`.
    #[must_use]
    pub fn facts(&self, shop_url: &ShopUrl) -> AccountFacts {
        let mut facts = AccountFacts {
            email: self.email.clone(),
            shop_url: shop_url.as_str().to_owned(),
            link: None,
            forgot_password_link: shop_url.link(FORGOT_PASSWORD_PATH, None),
            expires_at: None,
            valid_for: None,
            how: None,
            changed_at: None,
        };
        let (path, link) = match &self.kind {
            AccountEmail::VerifyEmail(link) => (VERIFY_EMAIL_PATH, link),
            AccountEmail::PasswordReset(link) => (RESET_PASSWORD_PATH, link),
            AccountEmail::AccountExists => return facts,
            AccountEmail::PasswordChanged { how, at } => {
                facts.how = Some(match how {
                    PasswordChange::Changed => "changed while signed in to your account",
                    PasswordChange::Reset => "reset with a link sent to this email address",
                });
                facts.changed_at = Some(human_time(*at));
                return facts;
            }
        };
        facts.link = Some(shop_url.link(path, Some(&link.token)));
        facts.expires_at = Some(human_time(link.expires_at));
        facts.valid_for = link.valid_for.and_then(human_duration);
        facts
    }
}

/// The account email `event` asks for: `None` when it is not an account event.
///
/// # Errors
/// [`Failure::Poison`] for another version of an account event, or data that does not fit its
/// type (an address that cannot be one, an empty token, a time that is not RFC 3339).
pub fn notice(event: &RawEnvelope) -> Result<Option<AccountNotice>, Failure> {
    let notice = if let Some(e) = consumer::typed::<EmailVerificationRequested>(event)? {
        AccountNotice {
            kind: AccountEmail::VerifyEmail(link(event, e.token, &e.expires_at)?),
            user_id: e.user_id,
            email: e.email,
            name: e.name,
        }
    } else if let Some(e) = consumer::typed::<RegistrationAttempted>(event)? {
        AccountNotice {
            kind: AccountEmail::AccountExists,
            user_id: e.user_id,
            email: e.email,
            name: e.name,
        }
    } else if let Some(e) = consumer::typed::<PasswordResetRequested>(event)? {
        AccountNotice {
            kind: AccountEmail::PasswordReset(link(event, e.token, &e.expires_at)?),
            user_id: e.user_id,
            email: e.email,
            name: e.name,
        }
    } else if let Some(e) = consumer::typed::<PasswordChanged>(event)? {
        AccountNotice {
            kind: AccountEmail::PasswordChanged {
                how: e.how,
                at: time(event, "at", &e.at)?,
            },
            user_id: e.user_id,
            email: e.email,
            name: e.name,
        }
    } else {
        return Ok(None);
    };
    if !is_address(&notice.email) {
        return Err(poison(event, "email is not an email address"));
    }
    Ok(Some(AccountNotice {
        name: notice.name.filter(|name| !name.trim().is_empty()),
        ..notice
    }))
}

fn link(event: &RawEnvelope, token: String, expires_at: &str) -> Result<Link, Failure> {
    let expires_at = time(event, "expiresAt", expires_at)?;
    let valid_for = Some(expires_at - event.occurred_at).filter(|d| d.is_positive());
    Ok(Link {
        token: Token::parse(event, token)?,
        expires_at,
        valid_for,
    })
}

fn time(event: &RawEnvelope, field: &str, text: &str) -> Result<OffsetDateTime, Failure> {
    shared::time::parse_rfc3339(text)
        .map_err(|e| poison(event, &format!("{field} is not an RFC 3339 time: {e}")))
}

fn poison(event: &RawEnvelope, what: &str) -> Failure {
    Failure::Poison(format!(
        "{} v{} data: {what}",
        event.event_type, event.version
    ))
}

/// Whether `email` can be one address to send to: one `@` between a local part and a domain, no
/// whitespace or control characters, and nothing that would name a second recipient.
fn is_address(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL_LEN
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || ",;<>\"".contains(c))
}

/// `at` for people, in UTC: `30 November 2026, 09:35 UTC`.
#[must_use]
pub fn human_time(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {} {}, {:02}:{:02} UTC",
        utc.day(),
        utc.month(),
        utc.year(),
        utc.hour(),
        utc.minute()
    )
}

/// `duration` for people, to the nearest minute: `30 minutes`, `1 hour`, `2 days`; `None` when
/// it is under half a minute.
#[must_use]
pub fn human_duration(duration: Duration) -> Option<String> {
    let minutes = (duration.whole_seconds() + 30) / 60;
    let (count, unit) = match minutes {
        ..=0 => return None,
        m if m % (24 * 60) == 0 => (m / (24 * 60), "day"),
        m if m % 60 == 0 => (m / 60, "hour"),
        m => (m, "minute"),
    };
    Some(format!(
        "{count} {unit}{}",
        if count == 1 { "" } else { "s" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::events::Envelope;

    const TOKEN: &str = "q2m8T0xLw5bX9yZ1-aB_cD3eF4gH5iJ6kL7mN8oP9rS";

    fn event(event_type: &str, data: Value) -> RawEnvelope {
        Envelope::new(event_type, data, "corr-1")
    }

    fn shop() -> ShopUrl {
        ShopUrl::parse("https://shop.example").unwrap()
    }

    fn in_minutes(minutes: i64) -> String {
        shared::time::to_rfc3339(shared::time::now() + Duration::minutes(minutes))
    }

    #[test]
    fn shop_urls_must_be_absolute_http_without_a_trailing_slash() {
        for good in [
            "https://shop.example",
            "http://127.0.0.1:3000",
            "https://shop.example/store",
            "https://[::1]:8443",
            " https://shop.example ",
        ] {
            assert!(ShopUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "shop.example",
            "/account",
            "ftp://shop.example",
            "javascript:alert(1)",
            "HTTPS//shop.example",
            "https://",
            "https://:443",
            "https://shop.example/",
            "https://shop.example/store/",
            "https://shop.example?x=1",
            "https://shop.example/#top",
            "https://user:pass@shop.example",
            "https://shop.example@evil.example",
            "https://shop example",
            "https://shop.example/a b",
            "https://shop.example/\"><script>",
            "https://shop.example//evil.example",
            "https://shop.example:",
            "https://shop.example:80x",
            "https://[]",
            "https://shöp.example",
        ] {
            assert!(ShopUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn links_append_the_page_and_the_percent_encoded_token() {
        let shop = ShopUrl::parse("https://shop.example/store").unwrap();
        let token = Token(TOKEN.to_owned());
        assert_eq!(
            shop.link(VERIFY_EMAIL_PATH, Some(&token)),
            format!("https://shop.example/store/account/verify-email?token={TOKEN}")
        );
        assert_eq!(
            shop.link(FORGOT_PASSWORD_PATH, None),
            "https://shop.example/store/account/forgot-password"
        );
        let odd = Token("a+b/c=d&e f?#%é".to_owned());
        assert_eq!(
            shop.link(RESET_PASSWORD_PATH, Some(&odd)),
            "https://shop.example/store/account/reset-password?token=a%2Bb%2Fc%3Dd%26e%20f%3F%23%25%C3%A9"
        );
    }

    #[test]
    fn a_token_never_shows_in_debug_output() {
        let notice = notice(&event(
            "PasswordResetRequested",
            json!({"userId": Uuid::now_v7(), "email": "a@example.com", "token": TOKEN,
                   "expiresAt": in_minutes(30)}),
        ))
        .unwrap()
        .unwrap();
        let debug = format!("{notice:?}");
        assert!(!debug.contains(TOKEN), "{debug}");
        assert!(debug.contains("Token(<redacted>)"), "{debug}");
    }

    #[test]
    fn each_account_event_gets_its_email_with_its_links() {
        let user = Uuid::now_v7();
        let verify = notice(&event(
            "EmailVerificationRequested",
            json!({"userId": user, "email": "new@example.com", "name": "Ada", "token": TOKEN,
                   "expiresAt": in_minutes(24 * 60)}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(verify.template(), "verify_email");
        assert_eq!(
            (
                verify.user_id,
                verify.email.as_str(),
                verify.name.as_deref()
            ),
            (user, "new@example.com", Some("Ada"))
        );
        let facts = verify.facts(&shop());
        assert_eq!(
            facts.link.as_deref(),
            Some(format!("https://shop.example/account/verify-email?token={TOKEN}").as_str())
        );
        assert_eq!(facts.valid_for.as_deref(), Some("1 day"));
        assert!(verify.expires_at().is_some());

        let exists = notice(&event(
            "RegistrationAttempted",
            json!({"userId": user, "email": "new@example.com", "name": "  "}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(exists.template(), "account_exists");
        assert_eq!(exists.name, None, "a blank name greets no one");
        assert_eq!(exists.expires_at(), None);
        let facts = exists.facts(&shop());
        assert_eq!(facts.link, None, "never a verification link");
        assert_eq!(
            facts.forgot_password_link,
            "https://shop.example/account/forgot-password"
        );

        let reset = notice(&event(
            "PasswordResetRequested",
            json!({"userId": user, "email": "new@example.com", "token": TOKEN,
                   "expiresAt": in_minutes(30)}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(reset.template(), "password_reset");
        let facts = reset.facts(&shop());
        assert_eq!(
            facts.link.as_deref(),
            Some(format!("https://shop.example/account/reset-password?token={TOKEN}").as_str())
        );
        assert_eq!(facts.valid_for.as_deref(), Some("30 minutes"));
        assert!(facts.expires_at.unwrap().ends_with(" UTC"));

        for (how, said) in [
            ("CHANGED", "changed while signed in to your account"),
            ("RESET", "reset with a link sent to this email address"),
        ] {
            let changed = notice(&event(
                "PasswordChanged",
                json!({"userId": user, "email": "new@example.com", "how": how,
                       "at": "2026-11-30T09:05:00.000Z"}),
            ))
            .unwrap()
            .unwrap();
            assert_eq!(changed.template(), "password_changed");
            let facts = changed.facts(&shop());
            assert_eq!(facts.how, Some(said));
            assert_eq!(
                facts.changed_at.as_deref(),
                Some("30 November 2026, 09:05 UTC")
            );
            assert_eq!(facts.link, None);
        }
    }

    #[test]
    fn other_events_are_not_account_events() {
        let order = Uuid::now_v7();
        let delivered = event("OrderDelivered", json!({"orderId": order, "userId": order}));
        assert!(notice(&delivered).unwrap().is_none());
    }

    #[test]
    fn malformed_account_events_are_poison_without_repeating_the_token() {
        let user = Uuid::now_v7();
        let reset = |data: Value| event("PasswordResetRequested", data);
        let cases = [
            reset(json!({"userId": user, "email": "a@example.com", "expiresAt": in_minutes(30)})),
            reset(
                json!({"userId": user, "email": "a@example.com", "token": "",
                         "expiresAt": in_minutes(30)}),
            ),
            reset(
                json!({"userId": user, "email": "a@example.com", "token": "with space",
                         "expiresAt": in_minutes(30)}),
            ),
            reset(
                json!({"userId": user, "email": "a@example.com", "token": TOKEN,
                         "expiresAt": "tomorrow"}),
            ),
            reset(
                json!({"userId": user, "email": "not-an-address", "token": TOKEN,
                         "expiresAt": in_minutes(30)}),
            ),
            reset(
                json!({"userId": user, "email": "a@example.com, b@example.com",
                         "token": TOKEN, "expiresAt": in_minutes(30)}),
            ),
            event(
                "PasswordChanged",
                json!({"userId": user, "email": "a@example.com", "how": "GUESSED",
                       "at": "2026-11-30T09:05:00Z"}),
            ),
            event(
                "RegistrationAttempted",
                json!({"userId": user, "email": "a@example.com"}),
            )
            .with_version(2),
        ];
        for case in cases {
            match notice(&case) {
                Err(Failure::Poison(reason)) => assert!(!reason.contains(TOKEN), "{reason}"),
                other => panic!("{} {}: {other:?}", case.event_type, case.data),
            }
        }
    }

    #[test]
    fn durations_and_times_read_well() {
        assert_eq!(
            human_duration(Duration::minutes(30)).as_deref(),
            Some("30 minutes")
        );
        assert_eq!(
            human_duration(Duration::minutes(30) + Duration::milliseconds(40)).as_deref(),
            Some("30 minutes")
        );
        assert_eq!(
            human_duration(Duration::minutes(1)).as_deref(),
            Some("1 minute")
        );
        assert_eq!(
            human_duration(Duration::hours(2)).as_deref(),
            Some("2 hours")
        );
        assert_eq!(
            human_duration(Duration::hours(48)).as_deref(),
            Some("2 days")
        );
        assert_eq!(human_duration(Duration::seconds(10)), None);
        assert_eq!(human_duration(Duration::minutes(-5)), None);
        let at = shared::time::parse_rfc3339("2026-01-02T23:04:59+02:00").unwrap();
        assert_eq!(human_time(at), "2 January 2026, 21:04 UTC");
    }
}
