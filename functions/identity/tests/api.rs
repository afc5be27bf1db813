//! The identity routes through the local stack, as clients (and attackers) see them.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use http::Method;
use identity::tokens::{PublicKeys, SigningKeys, TokenIssuer, TokenSettings, TokenVerifier};
use local::testing::{self, TestResponse, TestStack};
use serde_json::{Value, json};
use shared::auth::Role;
use uuid::Uuid;

/// The lockout per email and source address, from one source and from many.
#[path = "api/lockout.rs"]
mod lockout;

const ADMIN_EMAIL: &str = "root@storefront.test";
const ADMIN_PASSWORD: &str = "correct-horse-battery-staple";
const PASSWORD: &str = "a perfectly fine passphrase";
/// The refresh grace of the test stacks (`RefreshGraceSeconds`).
const GRACE_SECS: u64 = 2;

async fn stack() -> TestStack {
    testing::spawn_with(|options| {
        options
            .parameter_overrides
            .insert("AdminEmail".into(), ADMIN_EMAIL.into());
        options
            .parameter_overrides
            .insert("AdminPassword".into(), ADMIN_PASSWORD.into());
        options
            .parameter_overrides
            .insert("RefreshGraceSeconds".into(), GRACE_SECS.to_string());
    })
    .await
    .unwrap()
}

async fn send(
    stack: &TestStack,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> TestResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth));
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    stack.request(method, path, &headers, body).await.unwrap()
}

async fn register(stack: &TestStack, email: &str) -> TestResponse {
    send(
        stack,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await
}

async fn login_as(stack: &TestStack, email: &str, password: &str) -> TestResponse {
    send(
        stack,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

/// Registers `email` and logs in; returns the login answer.
async fn signed_up(stack: &TestStack, email: &str) -> Value {
    assert_eq!(register(stack, email).await.status, 202);
    let login = login_as(stack, email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text());
    login.json()
}

async fn put_role(stack: &TestStack, token: Option<&str>, user: &str, role: &str) -> TestResponse {
    send(
        stack,
        Method::PUT,
        &format!("/v1/admin/users/{user}/role"),
        token,
        Some(json!({ "role": role })),
    )
    .await
}

fn access(tokens: &Value) -> &str {
    tokens["accessToken"].as_str().unwrap()
}

async fn refresh(stack: &TestStack, refresh_token: &str) -> TestResponse {
    send(
        stack,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refreshToken": refresh_token})),
    )
    .await
}

/// What the stack's functions sign and verify with, from the stack's own secrets: the signer
/// (as login has it), the verifier (as the authorizer has it) and the public key set's text.
async fn stack_tokens(stack: &TestStack) -> (TokenIssuer, TokenVerifier, String) {
    let secrets = aws_sdk_secretsmanager::Client::new(stack.stack().sdk_config());
    let mut texts = Vec::new();
    for id in ["test/jwt-signing-keys", "test/jwt-public-keys"] {
        let secret = secrets
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .unwrap();
        texts.push(secret.secret_string().unwrap().to_owned());
    }
    let keys = SigningKeys::from_secret(&texts[0]).unwrap().unwrap();
    let public = PublicKeys::from_jwks(&texts[1]).unwrap();
    (
        TokenIssuer::new(&keys, settings()).unwrap(),
        TokenVerifier::new(public, settings()),
        texts.swap_remove(1),
    )
}

fn settings() -> TokenSettings {
    TokenSettings {
        issuer: "https://test.storefront".into(),
        audience: "storefront-api".into(),
        access_ttl: Duration::from_secs(900),
    }
}

fn claims(user: Uuid, role: &str, now: i64) -> Value {
    json!({
        "iss": "https://test.storefront", "aud": "storefront-api", "sub": user.to_string(),
        "role": role, "jti": Uuid::new_v4().to_string(), "iat": now, "nbf": now, "exp": now + 900,
    })
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_registers_logs_in_and_manages_the_profile() {
    let stack = stack().await;
    let created = register(&stack, "  Grace.Hopper@Example.com ").await;
    assert_eq!(created.status, 202, "{}", created.text());
    assert_eq!(created.json()["status"], "accepted");

    let login = login_as(&stack, "GRACE.HOPPER@example.com", PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text());
    let tokens = login.json();
    assert_eq!(tokens["tokenType"], "Bearer");
    assert_eq!(tokens["expiresIn"], 900);
    assert_eq!(tokens["refreshToken"].as_str().unwrap().len(), 43);
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access(&tokens).split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert!(
        header["kid"]
            .as_str()
            .is_some_and(|kid| kid.starts_with('k'))
    );

    let me = send(
        &stack,
        Method::GET,
        "/v1/users/me",
        Some(access(&tokens)),
        None,
    )
    .await;
    assert_eq!(me.status, 200, "{}", me.text());
    let profile = me.json();
    assert_eq!(profile["id"], tokens["user"]["id"]);
    assert_eq!(profile["email"], "grace.hopper@example.com");
    assert_eq!(profile["role"], "customer");
    assert_eq!(profile["emailVerified"], false);
    assert!(profile.get("passwordHash").is_none());
    assert!(profile.get("sessionEpoch").is_none());

    let patched = send(
        &stack,
        Method::PATCH,
        "/v1/users/me",
        Some(access(&tokens)),
        Some(json!({"name": "Grace", "phone": "+14155550123", "smsOptIn": true, "marketingOptIn": true})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    let patched = patched.json();
    assert_eq!(patched["name"], "Grace");
    assert_eq!(patched["phone"], "+14155550123");
    assert_eq!(patched["smsOptIn"], true);

    // Clearing the phone turns SMS off with it; SMS without a phone is refused.
    let cleared = send(
        &stack,
        Method::PATCH,
        "/v1/users/me",
        Some(access(&tokens)),
        Some(json!({"phone": null})),
    )
    .await
    .json();
    assert_eq!(cleared["phone"], Value::Null);
    assert_eq!(cleared["smsOptIn"], false);
    let refused = send(
        &stack,
        Method::PATCH,
        "/v1/users/me",
        Some(access(&tokens)),
        Some(json!({"smsOptIn": true})),
    )
    .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["code"], "PHONE_REQUIRED");

    let bad = send(
        &stack,
        Method::PATCH,
        "/v1/users/me",
        Some(access(&tokens)),
        Some(json!({"phone": "555-0123", "name": ""})),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["errors"].as_array().unwrap().len(), 2);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registration_validates_the_email_and_the_password_policy() {
    let stack = stack().await;
    for (body, field) in [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(129)}),
            "password",
        ),
    ] {
        let answer = send(&stack, Method::POST, "/v1/auth/register", None, Some(body)).await;
        assert_eq!(answer.status, 400, "{}", answer.text());
        assert_eq!(answer.json()["errors"][0]["field"], field);
    }
    let with_role = send(
        &stack,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"email": "mallory@example.com", "password": PASSWORD, "role": "admin"})),
    )
    .await;
    assert_eq!(with_role.status, 400);
    for junk in ["", "{", "[]", "{\"email\": 5}"] {
        let answer = stack
            .request(
                Method::POST,
                "/v1/auth/register",
                &[("content-type", "application/json")],
                junk.to_owned(),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{junk}: {}", answer.text());
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_passwords_and_unknown_emails_look_the_same_and_lock_with_backoff() {
    let stack = stack().await;
    signed_up(&stack, "known@example.com").await;

    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        let a = login_as(&stack, "known@example.com", "wrong password!").await;
        known.push(started.elapsed());
        let started = Instant::now();
        let b = login_as(&stack, &format!("nobody{i}@example.com"), "wrong password!").await;
        unknown.push(started.elapsed());
        assert_eq!((a.status, b.status), (401, 401));
        let (mut a, mut b) = (a.json(), b.json());
        a["requestId"] = Value::Null;
        b["requestId"] = Value::Null;
        assert_eq!(a, b);
        assert_eq!(a["code"], "INVALID_CREDENTIALS");
    }
    // Both paths hash a password once; neither is a fast path.
    known.sort();
    unknown.sort();
    assert!(
        unknown[1] * 3 >= known[1],
        "unknown emails answer much faster: {unknown:?} vs {known:?}"
    );

    // Five checks per email, then a lock; the right password does not get through it.
    for _ in 0..2 {
        assert_eq!(
            login_as(&stack, "known@example.com", "wrong password!")
                .await
                .status,
            401
        );
    }
    let locked = login_as(&stack, "known@example.com", "wrong password!").await;
    assert_eq!(locked.status, 429, "{}", locked.text());
    let retry_after: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let still = login_as(&stack, "known@example.com", PASSWORD).await;
    assert_eq!(still.status, 429);
    // Unknown emails lock the same way.
    for _ in 0..5 {
        login_as(&stack, "ghost@example.com", "wrong password!").await;
    }
    assert_eq!(
        login_as(&stack, "ghost@example.com", "wrong password!")
            .await
            .status,
        429
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_successful_login_forgets_the_failures() {
    let stack = stack().await;
    signed_up(&stack, "forgetful@example.com").await;
    for _ in 0..4 {
        let wrong = login_as(&stack, "forgetful@example.com", "wrong password!").await;
        assert_eq!(wrong.status, 401);
    }
    assert_eq!(
        login_as(&stack, "forgetful@example.com", PASSWORD)
            .await
            .status,
        200
    );
    for _ in 0..5 {
        let wrong = login_as(&stack, "forgetful@example.com", "wrong password!").await;
        assert_eq!(wrong.status, 401);
    }
    let locked = login_as(&stack, "forgetful@example.com", "wrong password!").await;
    assert_eq!(locked.status, 429);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_parallel_guesses_gets_no_more_than_five_checks() {
    let stack = stack().await;
    signed_up(&stack, "burst@example.com").await;
    let answers = futures::future::join_all(
        (0..12).map(|_| login_as(&stack, "burst@example.com", "wrong password!")),
    )
    .await;
    let checked = answers.iter().filter(|a| a.status == 401).count();
    let locked = answers.iter().filter(|a| a.status == 429).count();
    assert_eq!((checked, locked), (5, 7));
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_tokens_rotate_and_reuse_revokes_the_whole_session() {
    let stack = stack().await;
    let first = signed_up(&stack, "rotate@example.com").await;
    let other_login = login_as(&stack, "rotate@example.com", PASSWORD)
        .await
        .json();
    let r1 = first["refreshToken"].as_str().unwrap();

    let second = refresh(&stack, r1).await;
    assert_eq!(second.status, 200, "{}", second.text());
    let second = second.json();
    let r2 = second["refreshToken"].as_str().unwrap();
    assert_ne!(r1, r2);
    assert_eq!(
        second["refreshTokenExpiresAt"],
        first["refreshTokenExpiresAt"]
    );
    let me = send(
        &stack,
        Method::GET,
        "/v1/users/me",
        Some(access(&second)),
        None,
    )
    .await;
    assert_eq!(me.status, 200);

    // Past the grace, an attacker replays the spent token: the session dies, for the attacker
    // and the owner.
    tokio::time::sleep(std::time::Duration::from_secs(GRACE_SECS + 1)).await;
    let replay = refresh(&stack, r1).await;
    assert_eq!(replay.status, 401);
    assert_eq!(replay.json()["code"], "REFRESH_TOKEN_REUSED");
    let owner = refresh(&stack, r2).await;
    assert_eq!(owner.status, 401);
    assert_eq!(owner.json()["code"], "SESSION_REVOKED");

    // Another login is another session, untouched.
    let other = refresh(&stack, other_login["refreshToken"].as_str().unwrap()).await;
    assert_eq!(other.status, 200, "{}", other.text());

    let forged = refresh(&stack, &"A".repeat(43)).await;
    assert_eq!(forged.status, 401);
    assert_eq!(forged.json()["code"], "INVALID_REFRESH_TOKEN");
    assert_eq!(refresh(&stack, "short").await.status, 401);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_retried_within_the_grace_gets_the_same_successor_and_no_more() {
    let stack = stack().await;
    let tokens = signed_up(&stack, "retry@example.com").await;
    let r1 = tokens["refreshToken"].as_str().unwrap();
    let first = refresh(&stack, r1).await;
    assert_eq!(first.status, 200, "{}", first.text());
    // The answer was lost; the client tries again with the same token.
    let again = refresh(&stack, r1).await;
    assert_eq!(again.status, 200, "{}", again.text());
    let r2 = first.json()["refreshToken"].as_str().unwrap().to_owned();
    assert_eq!(again.json()["refreshToken"], r2.as_str());
    let me = send(
        &stack,
        Method::GET,
        "/v1/users/me",
        Some(access(&again.json())),
        None,
    )
    .await;
    assert_eq!(me.status, 200);

    // The successor is used: from now on the old token is plain reuse, even within the grace.
    let next = refresh(&stack, &r2).await;
    assert_eq!(next.status, 200, "{}", next.text());
    let reuse = refresh(&stack, r1).await;
    assert_eq!(reuse.status, 401);
    assert_eq!(reuse.json()["code"], "REFRESH_TOKEN_REUSED");
    let r3 = next.json()["refreshToken"].as_str().unwrap().to_owned();
    assert_eq!(refresh(&stack, &r3).await.json()["code"], "SESSION_REVOKED");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_share_one_successor() {
    let stack = stack().await;
    let tokens = signed_up(&stack, "race@example.com").await;
    let token = tokens["refreshToken"].as_str().unwrap();
    let answers = futures::future::join_all((0..4).map(|_| refresh(&stack, token))).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let successors: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|a| a.json()["refreshToken"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(successors.len(), 1, "{successors:?}");
    let successor = successors.into_iter().next().unwrap();
    let next = refresh(&stack, &successor).await;
    assert_eq!(next.status, 200, "{}", next.text());
    assert_eq!(
        refresh(&stack, &successor).await.status,
        200,
        "a retry of the successor"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_revokes_the_session_and_is_idempotent() {
    let stack = stack().await;
    let tokens = signed_up(&stack, "leaving@example.com").await;
    let token = tokens["refreshToken"].as_str().unwrap();
    for _ in 0..2 {
        let out = send(
            &stack,
            Method::POST,
            "/v1/auth/logout",
            None,
            Some(json!({"refreshToken": token})),
        )
        .await;
        assert_eq!(out.status, 204, "{}", out.text());
    }
    assert_eq!(
        refresh(&stack, token).await.json()["code"],
        "SESSION_REVOKED"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_authorizer_rejects_forged_expired_and_misdirected_tokens() {
    let stack = stack().await;
    let tokens = signed_up(&stack, "target@example.com").await;
    let user: Uuid = tokens["user"]["id"].as_str().unwrap().parse().unwrap();
    let (genuine, verifier, jwks) = stack_tokens(&stack).await;
    let now = now();
    let kid = TokenVerifier::kid_of(access(&tokens)).unwrap();

    // The genuine service's own signature is accepted, so the failures below are about the attack.
    let valid = genuine.sign(&claims(user, "customer", now)).unwrap();
    let me = send(&stack, Method::GET, "/v1/users/me", Some(&valid), None).await;
    assert_eq!(me.status, 200, "{}", me.text());

    // The public key set is served, holds no private part, and verifies the login's token.
    let served = send(&stack, Method::GET, "/.well-known/jwks.json", None, None).await;
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(served.json(), serde_json::from_str::<Value>(&jwks).unwrap());
    assert!(
        !jwks.contains("privateKey") && !jwks.contains("\"d\""),
        "{jwks}"
    );
    let public = URL_SAFE_NO_PAD
        .decode(served.json()["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    assert!(
        verifier
            .verify(access(&tokens), time::OffsetDateTime::now_utc())
            .is_ok()
    );

    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let admin_claims = claims(user, "admin", now);
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(&admin_claims)
    );
    // Another key under the stack's kid.
    let wrong_key = TokenIssuer::new(&SigningKeys::generate(&kid).unwrap(), settings())
        .unwrap()
        .sign(&admin_claims)
        .unwrap();
    // Key confusion: HS256 keyed with the public key, which anyone can fetch.
    let hs256_public = {
        let input = format!(
            "{}.{}",
            b64(&json!({"alg": "HS256", "typ": "JWT", "kid": kid})),
            b64(&admin_claims)
        );
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&public).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let mut expired = claims(user, "customer", now - 3600);
    expired["exp"] = json!(now - 120);
    let mut not_yet = claims(user, "customer", now);
    not_yet["nbf"] = json!(now + 600);
    let mut wrong_aud = claims(user, "customer", now);
    wrong_aud["aud"] = json!("another-api");
    let mut wrong_iss = claims(user, "customer", now);
    wrong_iss["iss"] = json!("https://evil.example");
    let tampered = {
        let mut parts: Vec<String> = access(&tokens).split('.').map(str::to_owned).collect();
        let mut payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        payload["role"] = json!("admin");
        parts[1] = b64(&payload);
        parts.join(".")
    };
    // The genuine signature under another algorithm's name.
    let rs256 = {
        let signed = genuine.sign(&admin_claims).unwrap();
        let parts: Vec<&str> = signed.split('.').collect();
        format!(
            "{}.{}.{}",
            b64(&json!({"alg": "RS256", "kid": kid})),
            parts[1],
            parts[2]
        )
    };
    let attacks = [
        ("alg none", alg_none),
        ("wrong key", wrong_key),
        ("HS256 keyed with the public key", hs256_public),
        ("expired", genuine.sign(&expired).unwrap()),
        ("not yet valid", genuine.sign(&not_yet).unwrap()),
        ("wrong audience", genuine.sign(&wrong_aud).unwrap()),
        ("wrong issuer", genuine.sign(&wrong_iss).unwrap()),
        ("tampered payload", tampered),
        ("RS256 header", rs256),
        ("garbage", "not-a-jwt".to_owned()),
    ];
    for (attack, token) in &attacks {
        let answer = send(&stack, Method::GET, "/v1/users/me", Some(token), None).await;
        assert_eq!(answer.status, 403, "{attack}: {}", answer.text());
        assert_eq!(answer.json(), json!({"message": "Forbidden"}), "{attack}");
    }
    let anonymous = send(&stack, Method::GET, "/v1/users/me", None, None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json(), json!({"message": "Unauthorized"}));
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_profile_patch_cannot_escalate_the_role() {
    let stack = stack().await;
    let tokens = signed_up(&stack, "eve@example.com").await;
    for body in [
        json!({"role": "admin"}),
        json!({"name": "Eve", "role": "admin"}),
        json!({"email": "root@storefront.test"}),
    ] {
        let answer = send(
            &stack,
            Method::PATCH,
            "/v1/users/me",
            Some(access(&tokens)),
            Some(body),
        )
        .await;
        assert_eq!(answer.status, 400, "{}", answer.text());
    }
    let me = send(
        &stack,
        Method::GET,
        "/v1/users/me",
        Some(access(&tokens)),
        None,
    )
    .await;
    assert_eq!(me.json()["role"], "customer");
    assert_eq!(me.json()["name"], Value::Null);
    let user = me.json()["id"].as_str().unwrap().to_owned();
    let promote = put_role(&stack, Some(access(&tokens)), &user, "admin").await;
    assert_eq!(promote.status, 403, "{}", promote.text());
    let refreshed = refresh(&stack, tokens["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refreshed.json()["user"]["role"], "customer");
    stack.shutdown().await;
}

fn address(line1: &str) -> Value {
    json!({"recipient": "Ada", "line1": line1, "city": "London", "postalCode": "SW1", "country": "gb"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_address_book_keeps_one_default_and_at_most_twenty() {
    let stack = stack().await;
    let tokens = signed_up(&stack, "book@example.com").await;
    let t = Some(access(&tokens));
    let path = "/v1/users/me/addresses";

    let first = send(&stack, Method::POST, path, t, Some(address("1 First St"))).await;
    assert_eq!(first.status, 201, "{}", first.text());
    let first = first.json();
    assert_eq!(first["isDefault"], true);
    assert_eq!(first["country"], "GB");
    let second = send(&stack, Method::POST, path, t, Some(address("2 Second St")))
        .await
        .json();
    assert_eq!(second["isDefault"], false);
    let third = send(
        &stack,
        Method::POST,
        path,
        t,
        Some(json!({"isDefault": true, "recipient": "Ada", "line1": "3 Third St", "city": "London", "postalCode": "SW1", "country": "GB"})),
    )
    .await
    .json();
    assert_eq!(third["isDefault"], true);

    let list = send(&stack, Method::GET, path, t, None).await.json();
    let defaults: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["isDefault"] == true)
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(defaults, [third["id"].clone()]);
    assert_eq!(list["nextCursor"], Value::Null);

    // Editing, and moving the default with a PATCH.
    let first_path = format!("{path}/{}", first["id"].as_str().unwrap());
    let edited = send(
        &stack,
        Method::PATCH,
        &first_path,
        t,
        Some(json!({"line2": "Flat 1", "isDefault": true})),
    )
    .await;
    assert_eq!(edited.status, 200, "{}", edited.text());
    assert_eq!(edited.json()["line2"], "Flat 1");
    assert_eq!(edited.json()["isDefault"], true);
    let keep_default = send(
        &stack,
        Method::PATCH,
        &first_path,
        t,
        Some(json!({"isDefault": false})),
    )
    .await;
    assert_eq!(keep_default.status, 409);
    assert_eq!(keep_default.json()["code"], "DEFAULT_ADDRESS_REQUIRED");
    let null_city = send(
        &stack,
        Method::PATCH,
        &first_path,
        t,
        Some(json!({"city": null})),
    )
    .await;
    assert_eq!(null_city.status, 400);

    // Deleting the default passes it to the newest remaining address.
    assert_eq!(
        send(&stack, Method::DELETE, &first_path, t, None)
            .await
            .status,
        204
    );
    assert_eq!(
        send(&stack, Method::DELETE, &first_path, t, None)
            .await
            .status,
        404
    );
    let list = send(&stack, Method::GET, path, t, None).await.json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let default: Vec<_> = items.iter().filter(|a| a["isDefault"] == true).collect();
    assert_eq!(default.len(), 1);
    assert_eq!(default[0]["id"], third["id"]);

    // Fill to 18, then race five creations for the last two places.
    for i in 0..16 {
        let created = send(
            &stack,
            Method::POST,
            path,
            t,
            Some(address(&format!("{i} Filler Rd"))),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.text());
    }
    let race = futures::future::join_all((0..5).map(|i| {
        send(
            &stack,
            Method::POST,
            path,
            t,
            Some(address(&format!("{i} Race Rd"))),
        )
    }))
    .await;
    let created = race.iter().filter(|a| a.status == 201).count();
    let refused: Vec<_> = race.iter().filter(|a| a.status == 409).collect();
    assert_eq!((created, refused.len()), (2, 3));
    assert_eq!(refused[0].json()["code"], "ADDRESS_LIMIT_REACHED");
    let list = send(&stack, Method::GET, path, t, None).await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 20);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_address_creation_with_its_idempotency_key_adds_one_address() {
    let stack = stack().await;
    let tokens = signed_up(&stack, "retrying@example.com").await;
    let token = access(&tokens);
    let create = |body: Value, key: &'static str| {
        let stack = &stack;
        async move {
            testing::call(
                stack,
                Method::POST,
                "/v1/users/me/addresses",
                Some(token),
                Some(&body),
                &[("idempotency-key", key)],
            )
            .await
            .unwrap()
        }
    };
    let first = create(address("1 Main St"), "address-1").await;
    assert_eq!(first.status, 201, "{}", first.text());
    // Retried, also concurrently: one address, the same answer.
    let retries =
        futures::future::join_all((0..3).map(|_| create(address("1 Main St"), "address-1"))).await;
    for retry in &retries {
        assert_eq!(retry.status, 201, "{}", retry.text());
        assert_eq!(retry.json()["id"], first.json()["id"]);
    }
    let book = send(
        &stack,
        Method::GET,
        "/v1/users/me/addresses",
        Some(token),
        None,
    )
    .await;
    assert_eq!(book.json()["items"].as_array().unwrap().len(), 1);
    // The same key with another body is refused and changes nothing.
    let other = create(address("2 Side St"), "address-1").await;
    assert_eq!(other.status, 422, "{}", other.text());
    assert_eq!(other.json()["code"], "IDEMPOTENCY_KEY_REUSED");
    // Another key is another address.
    assert_eq!(create(address("2 Side St"), "address-2").await.status, 201);
    let book = send(
        &stack,
        Method::GET,
        "/v1/users/me/addresses",
        Some(token),
        None,
    )
    .await;
    assert_eq!(book.json()["items"].as_array().unwrap().len(), 2);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_users_addresses_are_not_found() {
    let stack = stack().await;
    let alice = signed_up(&stack, "alice@example.com").await;
    let mallory = signed_up(&stack, "mallory@example.com").await;
    let path = "/v1/users/me/addresses";
    let created = send(
        &stack,
        Method::POST,
        path,
        Some(access(&alice)),
        Some(address("1 Alice Way")),
    )
    .await
    .json();
    let alice_address = format!("{path}/{}", created["id"].as_str().unwrap());

    let m = Some(access(&mallory));
    let patch = send(
        &stack,
        Method::PATCH,
        &alice_address,
        m,
        Some(json!({"line1": "stolen"})),
    )
    .await;
    assert_eq!(patch.status, 404, "{}", patch.text());
    assert_eq!(
        send(&stack, Method::DELETE, &alice_address, m, None)
            .await
            .status,
        404
    );
    let make_default = send(
        &stack,
        Method::PATCH,
        &alice_address,
        m,
        Some(json!({"isDefault": true})),
    )
    .await;
    assert_eq!(make_default.status, 404);
    assert_eq!(
        send(&stack, Method::GET, path, m, None).await.json()["items"],
        json!([])
    );
    let not_an_id = send(
        &stack,
        Method::DELETE,
        &format!("{path}/not-an-id"),
        m,
        None,
    )
    .await;
    assert_eq!(not_an_id.status, 404);

    let list = send(&stack, Method::GET, path, Some(access(&alice)), None)
        .await
        .json();
    assert_eq!(list["items"][0]["line1"], "1 Alice Way");
    assert_eq!(list["items"][0]["isDefault"], true);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_admin_changes_roles_but_never_demotes_the_last_admin() {
    let stack = stack().await;
    let admin = login_as(&stack, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(admin.status, 200, "{}", admin.text());
    let admin = admin.json();
    assert_eq!(admin["user"]["role"], "admin");
    let admin_id = admin["user"]["id"].as_str().unwrap().to_owned();
    let a = Some(access(&admin));

    let seller = signed_up(&stack, "seller@example.com").await;
    let seller_id = seller["user"]["id"].as_str().unwrap().to_owned();
    let promote = put_role(&stack, a, &seller_id, "seller").await;
    assert_eq!(promote.status, 200, "{}", promote.text());
    assert_eq!(
        promote.json(),
        json!({"userId": seller_id, "role": "seller", "previousRole": "customer"})
    );
    // The new role reaches the user's tokens at the next refresh.
    let refreshed = refresh(&stack, seller["refreshToken"].as_str().unwrap())
        .await
        .json();
    assert_eq!(refreshed["user"]["role"], "seller");
    let (_, verifier, _) = stack_tokens(&stack).await;
    assert_eq!(
        verifier
            .verify(access(&refreshed), time::OffsetDateTime::now_utc())
            .unwrap()
            .role,
        Role::Seller
    );

    let demote_self = put_role(&stack, a, &admin_id, "customer").await;
    assert_eq!(demote_self.status, 409, "{}", demote_self.text());
    assert_eq!(demote_self.json()["code"], "LAST_ADMIN");

    let unknown = put_role(&stack, a, &Uuid::now_v7().to_string(), "seller").await;
    assert_eq!(unknown.status, 404);
    let bad_role = put_role(&stack, a, &seller_id, "superuser").await;
    assert_eq!(bad_role.status, 400);

    // With a second admin, the first may step down; then the second is the last.
    let promote = put_role(&stack, a, &seller_id, "admin").await;
    assert_eq!(promote.status, 200);
    let step_down = put_role(&stack, a, &admin_id, "customer").await;
    assert_eq!(step_down.status, 200, "{}", step_down.text());
    let second_admin = login_as(&stack, "seller@example.com", PASSWORD)
        .await
        .json();
    let last = put_role(&stack, Some(access(&second_admin)), &seller_id, "seller").await;
    assert_eq!(last.json()["code"], "LAST_ADMIN");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_requests_get_a_problem_json_4xx_never_a_5xx() {
    let stack = stack().await;
    let tokens = signed_up(&stack, "fuzz@example.com").await;
    let t = Some(access(&tokens));
    let created = send(
        &stack,
        Method::POST,
        "/v1/users/me/addresses",
        t,
        Some(address("1 Fuzz St")),
    )
    .await
    .json();
    let address_path = format!("/v1/users/me/addresses/{}", created["id"].as_str().unwrap());
    let user_path = format!(
        "/v1/admin/users/{}/role",
        tokens["user"]["id"].as_str().unwrap()
    );
    let long = "x".repeat(70_000);
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"text\"".to_vec(),
        b"{\"email\": 1, \"password\": true}".to_vec(),
        b"{\"email\": null, \"refreshToken\": null, \"role\": null}".to_vec(),
        b"{\"name\": {\"nested\": [1, 2]}, \"phone\": 5}".to_vec(),
        b"{\"recipient\": \"\\u0000\", \"line1\": \"a\", \"city\": \"b\", \"postalCode\": \"c\", \"country\": \"\xe2\x82\xac\xe2\x82\xac\"}".to_vec(),
        b"{\"isDefault\": \"yes\", \"smsOptIn\": \"no\"}".to_vec(),
        b"{\"email\": \"a@b.co\", \"password\": \"\xf0\x9f\x94\x91\xf0\x9f\x94\x91\xf0\x9f\x94\x91\xf0\x9f\x94\x91\xf0\x9f\x94\x91\xf0\x9f\x94\x91\xf0\x9f\x94\x91\xf0\x9f\x94\x91\xf0\x9f\x94\x91\"}".to_vec(),
        b"{\xff\xfe}".to_vec(),
        format!("{{\"email\": \"{long}\"}}").into_bytes(),
        b"{\"refreshToken\": \"../../etc/passwd\", \"role\": \"ADMIN\"}".to_vec(),
    ];
    let routes = [
        (Method::POST, "/v1/auth/register".to_owned(), None),
        (Method::POST, "/v1/auth/login".to_owned(), None),
        (Method::POST, "/v1/auth/refresh".to_owned(), None),
        (Method::POST, "/v1/auth/logout".to_owned(), None),
        (Method::PATCH, "/v1/users/me".to_owned(), t),
        (Method::POST, "/v1/users/me/addresses".to_owned(), t),
        (Method::PATCH, address_path.clone(), t),
        (Method::PUT, user_path.clone(), t),
    ];
    for (method, path, token) in &routes {
        for body in &bodies {
            for content_type in ["application/json", "text/plain"] {
                let auth = token.map(|t| format!("Bearer {t}"));
                let mut headers = vec![("content-type", content_type)];
                if let Some(auth) = &auth {
                    headers.push(("authorization", auth));
                }
                let answer = stack
                    .request(method.clone(), path, &headers, body.clone())
                    .await
                    .unwrap();
                let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
                assert!(
                    (400..500).contains(&answer.status),
                    "{method} {path} {content_type} {shown}: {} {}",
                    answer.status,
                    answer.text()
                );
                // API Gateway's own answers (throttling) keep its format; everything else is ours.
                if answer.header("content-type") == Some("application/json") {
                    assert_eq!(
                        answer.status,
                        429,
                        "{method} {path} {shown}: {}",
                        answer.text()
                    );
                    assert_eq!(answer.json(), json!({"message": "Too Many Requests"}));
                } else {
                    assert_eq!(
                        answer.header("content-type"),
                        Some("application/problem+json"),
                        "{method} {path} {shown}"
                    );
                }
            }
        }
    }
    // The address and the profile survived all of it.
    let me = send(&stack, Method::GET, "/v1/users/me", t, None)
        .await
        .json();
    assert_eq!(me["role"], "customer");
    let book = send(&stack, Method::GET, "/v1/users/me/addresses", t, None)
        .await
        .json();
    assert_eq!(book["items"][0]["line1"], "1 Fuzz St");
    stack.shutdown().await;
}

fn store(stack: &TestStack) -> identity::store::Store {
    let table = stack.stack().model().tables[0].name.clone();
    identity::store::Store::new(
        aws_sdk_dynamodb::Client::new(stack.stack().sdk_config()),
        table,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provisioning_never_promotes_an_account_someone_registered() {
    use identity::store::FirstAdmin;
    let stack = stack().await;
    let store = store(&stack);
    let squatter = signed_up(&stack, "owner@shop.example").await;
    let now = shared::time::now_rfc3339();
    assert_eq!(
        store
            .ensure_first_admin(
                "owner@shop.example",
                "$argon2id$unused",
                &now,
                "provisioning"
            )
            .await
            .unwrap(),
        FirstAdmin::EmailTaken
    );
    let refreshed = refresh(&stack, squatter["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refreshed.json()["user"]["role"], "customer");

    // The provisioned admin is found again by later runs, unchanged.
    let admin = login_as(&stack, ADMIN_EMAIL, ADMIN_PASSWORD).await.json();
    let again = store
        .ensure_first_admin(ADMIN_EMAIL, "$argon2id$unused", &now, "provisioning")
        .await
        .unwrap();
    assert_eq!(
        again,
        FirstAdmin::Ready(admin["user"]["id"].as_str().unwrap().parse().unwrap())
    );
    assert_eq!(
        login_as(&stack, ADMIN_EMAIL, ADMIN_PASSWORD).await.status,
        200
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_demoted_admins_unexpired_token_cannot_change_roles() {
    let stack = stack().await;
    let root = login_as(&stack, ADMIN_EMAIL, ADMIN_PASSWORD).await.json();
    let deputy = signed_up(&stack, "deputy@example.com").await;
    let deputy_id = deputy["user"]["id"].as_str().unwrap().to_owned();
    let promoted = put_role(&stack, Some(access(&root)), &deputy_id, "admin").await;
    assert_eq!(promoted.status, 200);
    let deputy_admin = login_as(&stack, "deputy@example.com", PASSWORD)
        .await
        .json();
    assert_eq!(deputy_admin["user"]["role"], "admin");

    let demoted = put_role(&stack, Some(access(&root)), &deputy_id, "customer").await;
    assert_eq!(demoted.status, 200);
    // The deputy's access token still says admin, but the stored role decides.
    let root_id = root["user"]["id"].as_str().unwrap().to_owned();
    // Nor can it probe: a role the user already has, or a user that does not exist, is 403 too.
    let nobody = Uuid::now_v7().to_string();
    for (target, role) in [
        (&deputy_id, "admin"),
        (&root_id, "customer"),
        (&root_id, "admin"),
        (&deputy_id, "customer"),
        (&nobody, "customer"),
    ] {
        let answer = put_role(&stack, Some(access(&deputy_admin)), target, role).await;
        assert_eq!(answer.status, 403, "{target} {role}: {}", answer.text());
    }
    let unknown = put_role(&stack, Some(access(&root)), &nobody, "customer").await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    let unchanged = put_role(&stack, Some(access(&root)), &root_id, "admin").await;
    assert_eq!(unchanged.status, 200, "{}", unchanged.text());
    let me = send(
        &stack,
        Method::GET,
        "/v1/users/me",
        Some(access(&root)),
        None,
    )
    .await;
    assert_eq!(me.json()["role"], "admin");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_rehashes_a_password_stored_at_an_older_cost() {
    use identity::password::{Cost, Hasher};
    let stack = stack().await;
    let store = store(&stack);
    let tokens = signed_up(&stack, "legacy@example.com").await;
    let id: Uuid = tokens["user"]["id"].as_str().unwrap().parse().unwrap();
    let current = store.user(id).await.unwrap().unwrap().password_hash;
    let cheap = Hasher::new(Cost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap();
    let legacy = cheap.hash(PASSWORD).unwrap();
    assert!(
        store
            .replace_password_hash(id, &current, &legacy)
            .await
            .unwrap()
    );

    assert_eq!(
        login_as(&stack, "legacy@example.com", PASSWORD)
            .await
            .status,
        200
    );
    let stored = store.user(id).await.unwrap().unwrap().password_hash;
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert_eq!(
        login_as(&stack, "legacy@example.com", PASSWORD)
            .await
            .status,
        200
    );
    stack.shutdown().await;
}

/// Accepts one HTTP request (a custom resource's answer) and says 200; returns its URL and the
/// body it received.
async fn answer_sink() -> (String, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/answer", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut chunk = [0_u8; 4096];
        loop {
            let n = socket.read(&mut chunk).await.unwrap();
            received.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&received).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await
                        .unwrap();
                    return body.to_owned();
                }
            }
            assert!(n > 0, "the answer ended early");
        }
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotated_signing_key_is_accepted_at_once_and_older_tokens_stay_valid() {
    use identity::handlers::{custom_resource, jwt_keys};
    let stack = stack().await;
    let tokens = signed_up(&stack, "rotation@example.com").await;
    let user: Uuid = tokens["user"]["id"].as_str().unwrap().parse().unwrap();
    let before = access(&tokens).to_owned();
    let me = |token: String| {
        let stack = &stack;
        async move {
            send(stack, Method::GET, "/v1/users/me", Some(&token), None)
                .await
                .status
        }
    };
    assert_eq!(me(before.clone()).await, 200);

    // What a deployment with a new JwtKeyRotation value sends: an Update of the custom resource.
    let (url, answer) = answer_sink().await;
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/jwt-keys.json")).unwrap();
    event["RequestType"] = json!("Update");
    event["ResponseURL"] = json!(url);
    event["PhysicalResourceId"] = json!("jwt-keys");
    event["ResourceProperties"]["SigningKeysSecretArn"] = json!("test/jwt-signing-keys");
    event["ResourceProperties"]["PublicKeysSecretArn"] = json!("test/jwt-public-keys");
    event["OldResourceProperties"] = event["ResourceProperties"].clone();
    event["ResourceProperties"]["Rotation"] = json!("2");
    let maker = jwt_keys::KeyMaker {
        secrets: aws_sdk_secretsmanager::Client::new(stack.stack().sdk_config()),
        http: custom_resource::https_client().unwrap(),
    };
    assert_eq!(jwt_keys::handle(&maker, event).await.unwrap(), "SUCCESS");
    let answer: Value = serde_json::from_str(&answer.await.unwrap()).unwrap();
    assert_eq!(answer["Status"], "SUCCESS");

    let (issuer, _, jwks) = stack_tokens(&stack).await;
    let jwks: Value = serde_json::from_str(&jwks).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let after = issuer.sign(&claims(user, "customer", now())).unwrap();
    let new_kid = TokenVerifier::kid_of(&after).unwrap();
    assert_eq!(answer["Data"]["SigningKid"], new_kid.as_str());
    assert_ne!(Some(new_kid), TokenVerifier::kid_of(&before));
    // The warm authorizer learns the new key from the token that names it; the old one still counts.
    assert_eq!(me(after).await, 200);
    assert_eq!(me(before).await, 200);
    stack.shutdown().await;
}

// ---------------------------------------------------------------- User events
// The tests of what the identity service publishes share one stack: each works on its own users
// and tells its events apart by their correlation ids.

/// The stack shared by the user event and account tests: the same template and parameters as
/// [`stack`], and orders that need a verified email.
async fn events_stack() -> &'static testing::SharedStack {
    testing::shared_stack(|options| {
        let overrides = &mut options.parameter_overrides;
        overrides.insert("AdminEmail".into(), ADMIN_EMAIL.into());
        overrides.insert("AdminPassword".into(), ADMIN_PASSWORD.into());
        overrides.insert("RefreshGraceSeconds".into(), GRACE_SECS.to_string());
        overrides.insert("RequireVerifiedEmail".into(), "true".into());
    })
    .await
    .unwrap()
}

/// A fresh correlation id for `what`.
fn correlation(what: &str) -> String {
    format!("{what}-{}", Uuid::new_v4().simple())
}

/// Registers a fresh account (named `name`) with `correlation_id` and logs it in: its id and
/// access token.
async fn registered(
    stack: &testing::SharedStack,
    name: &str,
    correlation_id: &str,
) -> (String, String) {
    let email = format!("{}@Example.com", Uuid::new_v4().simple());
    let body = json!({"email": email, "password": PASSWORD, "name": name});
    let created = testing::call(
        stack,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(&body),
        &[("x-correlation-id", correlation_id)],
    )
    .await
    .unwrap();
    assert_eq!(created.status, 202, "{}", created.text());
    let account = testing::login(stack, &email.to_lowercase(), PASSWORD)
        .await
        .unwrap();
    (account.id, account.token)
}

/// `PATCH /v1/users/me` with `correlation_id`.
async fn patch_profile(
    stack: &testing::SharedStack,
    token: &str,
    body: &Value,
    correlation_id: &str,
) -> TestResponse {
    testing::call(
        stack,
        Method::PATCH,
        "/v1/users/me",
        Some(token),
        Some(body),
        &[("x-correlation-id", correlation_id)],
    )
    .await
    .unwrap()
}

/// The one event of `event_type` published with `correlation_id`, once it arrived; it matches its
/// schema.
async fn published(stack: &testing::SharedStack, correlation_id: &str, event_type: &str) -> Value {
    let seen = testing::eventually(Duration::from_secs(30), correlation_id, || async {
        let seen: Vec<_> = stack
            .events()
            .by_correlation(correlation_id)
            .into_iter()
            .filter(|e| e.event_type() == event_type)
            .collect();
        (!seen.is_empty()).then_some(seen)
    })
    .await
    .unwrap();
    assert_eq!(seen.len(), 1, "one event: {seen:?}");
    let event = &seen[0];
    assert!(
        event.problems.is_empty(),
        "{:?}: {}",
        event.problems,
        event.event
    );
    event.event.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registering_publishes_user_registered_with_the_contact_details_at_revision_one() {
    let stack = events_stack().await;
    let registering = correlation("register");
    let (id, _) = registered(stack, "Ada", &registering).await;
    let event = published(stack, &registering, "UserRegistered").await;
    assert_eq!(event["type"], "UserRegistered");
    assert_eq!(event["version"], 1);
    assert_eq!(event["data"]["userId"], id.as_str());
    let email = event["data"]["email"].as_str().unwrap();
    assert!(email.ends_with("@example.com"), "normalized: {email}");
    assert_eq!(event["data"]["name"], "Ada");
    assert!(event["data"].get("phone").is_none());
    assert_eq!(event["data"]["smsOptIn"], false);
    assert_eq!(event["data"]["marketingOptIn"], false);
    assert_eq!(event["data"]["revision"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_provisioned_first_admin_is_published_as_registered() {
    let stack = events_stack().await;
    let admin =
        testing::eventually(Duration::from_secs(30), "the admin's event", || async {
            stack.events().events().into_iter().find(|e| {
                e.event_type() == "UserRegistered" && e.event["data"]["email"] == ADMIN_EMAIL
            })
        })
        .await
        .unwrap();
    assert!(admin.problems.is_empty(), "{:?}", admin.problems);
    assert_eq!(admin.event["data"]["revision"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_profile_change_publishes_user_changed_with_the_next_revision_and_the_new_details() {
    let stack = events_stack().await;
    let (id, token) = registered(stack, "Ada", &correlation("register")).await;
    // A refused change is no change.
    let refused = patch_profile(
        stack,
        &token,
        &json!({"smsOptIn": true}),
        &correlation("refused"),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert_eq!(refused.json()["code"], "PHONE_REQUIRED");

    let adding = correlation("add-phone");
    let body = json!({"phone": "+442071838750", "smsOptIn": true, "marketingOptIn": true});
    let answer = patch_profile(stack, &token, &body, &adding).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["phone"], "+442071838750");
    let event = published(stack, &adding, "UserChanged").await;
    assert_eq!(event["type"], "UserChanged");
    assert_eq!(event["data"]["userId"], id.as_str());
    assert_eq!(event["data"]["name"], "Ada");
    assert_eq!(event["data"]["phone"], "+442071838750");
    assert_eq!(event["data"]["smsOptIn"], true);
    assert_eq!(event["data"]["marketingOptIn"], true);
    assert_eq!(event["data"]["revision"], 2);

    // Neither an address nor a patch that repeats the stored details changes them.
    let address = testing::call(
        stack,
        Method::POST,
        "/v1/users/me/addresses",
        Some(&token),
        Some(&address("1 Event St")),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(address.status, 201, "{}", address.text());
    let repeated = patch_profile(
        stack,
        &token,
        &json!({"smsOptIn": true}),
        &correlation("same"),
    )
    .await;
    assert_eq!(repeated.status, 200, "{}", repeated.text());
    assert_eq!(repeated.json()["smsOptIn"], true);

    let opting_out = correlation("sms-off");
    let answer = patch_profile(stack, &token, &json!({"smsOptIn": false}), &opting_out).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["smsOptIn"], false);
    let event = published(stack, &opting_out, "UserChanged").await;
    assert_eq!(event["data"]["phone"], "+442071838750");
    assert_eq!(event["data"]["smsOptIn"], false);
    assert_eq!(event["data"]["marketingOptIn"], true);
    assert_eq!(
        event["data"]["revision"], 3,
        "the next revision: nothing in between counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_profile_changes_both_land_at_consecutive_revisions_with_an_event_each() {
    let stack = events_stack().await;
    let (_, token) = registered(stack, "Ada", &correlation("register")).await;
    let naming = correlation("rename");
    let phoning = correlation("phone");
    let (name, phone) = (
        json!({"name": "Countess"}),
        json!({"phone": "+442071838750"}),
    );
    let (named, phoned) = futures::join!(
        patch_profile(stack, &token, &name, &naming),
        patch_profile(stack, &token, &phone, &phoning),
    );
    assert_eq!(named.status, 200, "{}", named.text());
    assert_eq!(phoned.status, 200, "{}", phoned.text());

    let events = [
        published(stack, &naming, "UserChanged").await,
        published(stack, &phoning, "UserChanged").await,
    ];
    let mut revisions: Vec<u64> = events
        .iter()
        .map(|e| e["data"]["revision"].as_u64().unwrap())
        .collect();
    revisions.sort_unstable();
    assert_eq!(revisions, [2, 3]);
    // The later snapshot carries both changes: neither was lost.
    let last = events.iter().find(|e| e["data"]["revision"] == 3).unwrap();
    assert_eq!(last["data"]["name"], "Countess");
    assert_eq!(last["data"]["phone"], "+442071838750");
    let me = testing::call(stack, Method::GET, "/v1/users/me", Some(&token), None, &[])
        .await
        .unwrap()
        .json();
    assert_eq!(me["name"], "Countess");
    assert_eq!(me["phone"], "+442071838750");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_stored_before_revisions_changes_to_revision_one() {
    let stack = events_stack().await;
    let (id, token) = registered(stack, "Ada", &correlation("register")).await;
    let table = stack.model().table("IdentityTable").unwrap().name.clone();
    let dynamodb = aws_sdk_dynamodb::Client::new(stack.sdk_config());
    dynamodb
        .update_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()),
        )
        .update_expression("REMOVE revision")
        .send()
        .await
        .unwrap();

    let changing = correlation("legacy");
    let answer = patch_profile(stack, &token, &json!({"marketingOptIn": true}), &changing).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let event = published(stack, &changing, "UserChanged").await;
    assert_eq!(event["data"]["revision"], 1);
    assert_eq!(event["data"]["marketingOptIn"], true);
    let user = identity::store::Store::new(dynamodb, table)
        .user(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.revision, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_the_identity_service_publishes_matches_its_schema() {
    let stack = events_stack().await;
    let (_, token) = registered(stack, "Ada", &correlation("register")).await;
    let changing = correlation("schema");
    let body = json!({"name": "Ada L.", "phone": "+442071838750", "smsOptIn": true});
    assert_eq!(
        patch_profile(stack, &token, &body, &changing).await.status,
        200
    );
    published(stack, &changing, "UserChanged").await;
    let identity_events: Vec<_> = stack
        .events()
        .events()
        .into_iter()
        .filter(|e| {
            [
                "UserRegistered",
                "UserChanged",
                "EmailVerificationRequested",
                "RegistrationAttempted",
                "PasswordResetRequested",
                "PasswordChanged",
            ]
            .contains(&e.event_type())
        })
        .collect();
    assert!(identity_events.len() >= 2);
    let broken: Vec<_> = identity_events
        .iter()
        .filter(|e| !e.problems.is_empty())
        .collect();
    assert!(broken.is_empty(), "{broken:?}");
}

// ---------------------------------------------------------------- Accounts, emails and passwords
// On the shared stack too: each test works on its own fresh email addresses. The tokens of the
// links come from the published events; the emails themselves come from the notification
// service, through the emulator's mailbox.

/// A fresh address (lowercase) with `tag` in it.
fn fresh_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", Uuid::new_v4().simple())
}

/// `POST path` with `body`, `token` and `correlation_id`.
async fn post(
    stack: &testing::SharedStack,
    path: &str,
    token: Option<&str>,
    body: &Value,
    correlation_id: &str,
) -> TestResponse {
    testing::call(
        stack,
        Method::POST,
        path,
        token,
        Some(body),
        &[("x-correlation-id", correlation_id)],
    )
    .await
    .unwrap()
}

/// Registers `email` with `correlation_id`.
async fn register_as(
    stack: &testing::SharedStack,
    email: &str,
    correlation_id: &str,
) -> TestResponse {
    post(
        stack,
        "/v1/auth/register",
        None,
        &json!({"email": email, "password": PASSWORD, "name": "Ada"}),
        correlation_id,
    )
    .await
}

/// Logs `email` in with `password`.
async fn log_in(stack: &testing::SharedStack, email: &str, password: &str) -> TestResponse {
    post(
        stack,
        "/v1/auth/login",
        None,
        &json!({"email": email, "password": password}),
        &correlation("login"),
    )
    .await
}

/// `POST /v1/auth/refresh` with `refresh_token`.
async fn refresh_on(stack: &testing::SharedStack, refresh_token: &str) -> TestResponse {
    post(
        stack,
        "/v1/auth/refresh",
        None,
        &json!({"refreshToken": refresh_token}),
        &correlation("refresh"),
    )
    .await
}

/// `GET /v1/users/me`.
async fn profile_of(stack: &testing::SharedStack, token: &str) -> Value {
    let me = testing::call(stack, Method::GET, "/v1/users/me", Some(token), None, &[])
        .await
        .unwrap();
    assert_eq!(me.status, 200, "{}", me.text());
    me.json()
}

/// The claims of an access token (not verified: the stack's authorizer does that).
fn claims_of(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Registers a fresh account and logs in: its email and the login answer.
async fn signed_up_on(stack: &testing::SharedStack, tag: &str) -> (String, Value) {
    let email = fresh_email(tag);
    let registering = correlation("register");
    assert_eq!(register_as(stack, &email, &registering).await.status, 202);
    let login = log_in(stack, &email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text());
    (email, login.json())
}

/// The token an event of `event_type` with `correlation_id` carries.
async fn token_in(stack: &testing::SharedStack, correlation_id: &str, event_type: &str) -> String {
    let event = published(stack, correlation_id, event_type).await;
    let token = event["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43, "256 bits of base64url");
    token
}

/// Asks for a reset of `email`'s password with `correlation_id`.
async fn ask_reset(
    stack: &testing::SharedStack,
    email: &str,
    correlation_id: &str,
) -> TestResponse {
    post(
        stack,
        "/v1/auth/password-reset",
        None,
        &json!({ "email": email }),
        correlation_id,
    )
    .await
}

/// Sets a new password with a reset token.
async fn confirm_reset(stack: &testing::SharedStack, token: &str, password: &str) -> TestResponse {
    post(
        stack,
        "/v1/auth/password-reset/confirm",
        None,
        &json!({"token": token, "newPassword": password}),
        &correlation("confirm"),
    )
    .await
}

/// Verifies an email with a verification token.
async fn verify(stack: &testing::SharedStack, token: &str) -> TestResponse {
    post(
        stack,
        "/v1/auth/verify-email",
        None,
        &json!({ "token": token }),
        &correlation("verify"),
    )
    .await
}

/// Changes the password of the holder of `access_token`.
async fn change_password(
    stack: &testing::SharedStack,
    access_token: &str,
    current: &str,
    new: &str,
    correlation_id: &str,
) -> TestResponse {
    post(
        stack,
        "/v1/users/me/password",
        Some(access_token),
        &json!({"currentPassword": current, "newPassword": new}),
        correlation_id,
    )
    .await
}

/// The problem of a link token that does not work: always 400 `INVALID_TOKEN` with one message.
fn assert_invalid_token(answer: &TestResponse) {
    assert_eq!(answer.status, 400, "{}", answer.text());
    let problem = answer.json();
    assert_eq!(problem["code"], "INVALID_TOKEN");
    assert_eq!(
        problem["detail"],
        "This link is not valid or has expired. Ask for a new one."
    );
}

/// The emails sent to `address` once there are at least `count`, oldest first.
async fn emails_to(
    stack: &testing::SharedStack,
    address: &str,
    count: usize,
) -> Vec<local::mailbox::Email> {
    testing::eventually(
        Duration::from_secs(30),
        &format!("{count} emails to {address}"),
        || async {
            let emails: Vec<_> = local::mailbox::emails(stack.emulator_endpoint())
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.is_to(address))
                .collect();
            (emails.len() >= count).then_some(emails)
        },
    )
    .await
    .unwrap()
}

/// The text of an email.
fn text_of(email: &local::mailbox::Email) -> &str {
    email.text.as_deref().unwrap_or_default()
}

/// Waits long enough for anything published with `correlation_id` to have arrived, and checks
/// that nothing of `event_type` did.
async fn nothing_published(stack: &testing::SharedStack, correlation_id: &str, event_type: &str) {
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen: Vec<_> = stack
        .events()
        .by_correlation(correlation_id)
        .into_iter()
        .filter(|e| e.event_type() == event_type)
        .collect();
    assert!(seen.is_empty(), "{seen:?}");
}

/// The identity table of the shared stack.
fn shared_store(stack: &testing::SharedStack) -> identity::store::Store {
    let table = stack.model().table("IdentityTable").unwrap().name.clone();
    identity::store::Store::new(aws_sdk_dynamodb::Client::new(stack.sdk_config()), table)
}

/// Whether the outbox item of the event with `id` is still in the identity table.
async fn outbox_item_exists(stack: &testing::SharedStack, id: &str) -> bool {
    let table = stack.model().table("IdentityTable").unwrap().name.clone();
    aws_sdk_dynamodb::Client::new(stack.sdk_config())
        .get_item()
        .table_name(table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("OUTBOX#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("OUTBOX".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .is_some()
}

const NEW_PASSWORD: &str = "an entirely new passphrase";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registering_a_new_or_a_taken_email_answers_alike_and_only_the_owner_learns_which() {
    let stack = events_stack().await;
    let email = fresh_email("taken");
    let (first, second, third) = (
        correlation("register"),
        correlation("again"),
        correlation("thrice"),
    );
    let new = register_as(stack, &email, &first).await;
    let taken = register_as(stack, &email, &second).await;
    assert_eq!(new.status, 202, "{}", new.text());
    assert_eq!((taken.status, &taken.body), (new.status, &new.body));
    assert_eq!(new.json()["status"], "accepted");

    let token = token_in(stack, &first, "EmailVerificationRequested").await;
    let attempted = published(stack, &second, "RegistrationAttempted").await;
    let registered = published(stack, &first, "UserRegistered").await;
    assert_eq!(attempted["data"]["userId"], registered["data"]["userId"]);
    assert_eq!(attempted["data"]["email"], email.as_str());
    nothing_published(stack, &second, "UserRegistered").await;
    // The raw token left the table as soon as its transaction committed.
    let requested = published(stack, &first, "EmailVerificationRequested").await;
    assert!(!outbox_item_exists(stack, requested["id"].as_str().unwrap()).await);

    // Another attempt within 15 minutes: the same answer, and no second note.
    let again = register_as(stack, &email, &third).await;
    assert_eq!((again.status, &again.body), (new.status, &new.body));
    nothing_published(stack, &third, "RegistrationAttempted").await;

    // The owner gets the verification link, and then the note, which carries no link of that kind.
    let emails = emails_to(stack, &email, 2).await;
    assert_eq!(emails.len(), 2, "{emails:?}");
    let link = format!("/account/verify-email?token={token}");
    let verification = emails
        .iter()
        .find(|e| text_of(e).contains(&link))
        .unwrap_or_else(|| panic!("the verification link in {emails:?}"));
    let note = emails.iter().find(|e| e != &verification).unwrap();
    assert!(!text_of(note).contains("verify-email"), "{note:?}");
    assert!(!text_of(note).contains("token="), "{note:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_email_create_one_account_and_answer_alike() {
    let stack = events_stack().await;
    let email = fresh_email("twin");
    let correlations: Vec<String> = (0..6).map(|_| correlation("twin")).collect();
    let answers = futures::future::join_all(correlations.iter().enumerate().map(|(i, c)| {
        let spelling = if i % 2 == 0 {
            email.clone()
        } else {
            email.to_uppercase()
        };
        async move { register_as(stack, &spelling, c).await }
    }))
    .await;
    for answer in &answers {
        assert_eq!((answer.status, &answer.body), (202, &answers[0].body));
    }
    assert_eq!(log_in(stack, &email, PASSWORD).await.status, 200);
    published_somewhere(stack, &correlations, "UserRegistered").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let registered: Vec<_> = stack
        .events()
        .events()
        .into_iter()
        .filter(|e| {
            e.event_type() == "UserRegistered" && e.event["data"]["email"] == email.as_str()
        })
        .collect();
    assert_eq!(registered.len(), 1, "one account: {registered:?}");
}

/// Waits for an event of `event_type` with one of `correlations`.
async fn published_somewhere(
    stack: &testing::SharedStack,
    correlations: &[String],
    event_type: &str,
) {
    testing::eventually(Duration::from_secs(30), event_type, || async {
        correlations
            .iter()
            .flat_map(|c| stack.events().by_correlation(c))
            .find(|e| e.event_type() == event_type)
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_spellings_of_an_accented_email_are_one_account() {
    let stack = events_stack().await;
    let local_part = Uuid::new_v4().simple().to_string();
    let decomposed = format!("jose\u{301}-{local_part}@example.com");
    let precomposed = format!("jos\u{e9}-{local_part}@example.com");
    let registering = correlation("nfc");
    assert_eq!(
        register_as(stack, &decomposed, &registering).await.status,
        202
    );
    let registered = published(stack, &registering, "UserRegistered").await;
    assert_eq!(registered["data"]["email"], precomposed.as_str());

    let login = log_in(stack, &precomposed, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text());
    assert_eq!(login.json()["user"]["id"], registered["data"]["userId"]);
    let again = correlation("nfc-again");
    assert_eq!(register_as(stack, &precomposed, &again).await.status, 202);
    let attempted = published(stack, &again, "RegistrationAttempted").await;
    assert_eq!(attempted["data"]["userId"], registered["data"]["userId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_verification_link_verifies_the_email_once_and_tokens_say_so_from_the_next_refresh() {
    let stack = events_stack().await;
    let email = fresh_email("verify");
    let registering = correlation("register");
    assert_eq!(register_as(stack, &email, &registering).await.status, 202);
    let token = token_in(stack, &registering, "EmailVerificationRequested").await;
    let before = log_in(stack, &email, PASSWORD).await.json();
    assert_eq!(claims_of(access(&before))["email_verified"], false);
    assert_eq!(
        profile_of(stack, access(&before)).await["emailVerified"],
        false
    );

    // A forged token, a malformed one, then the real one, then the real one again.
    assert_invalid_token(&verify(stack, &identity::tokens::new_refresh_token()).await);
    assert_invalid_token(&verify(stack, "not-a-token").await);
    let verified = verify(stack, &token).await;
    assert_eq!(verified.status, 204, "{}", verified.text());
    assert_invalid_token(&verify(stack, &token).await);

    assert_eq!(
        profile_of(stack, access(&before)).await["emailVerified"],
        true
    );
    let refreshed = refresh_on(stack, before["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    assert_eq!(claims_of(access(&refreshed.json()))["email_verified"], true);
    let after = log_in(stack, &email, PASSWORD).await.json();
    assert_eq!(claims_of(access(&after))["email_verified"], true);

    let emails = emails_to(stack, &email, 1).await;
    assert!(
        text_of(&emails[0]).contains(&format!("/account/verify-email?token={token}")),
        "{emails:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verification_token_stops_working_after_a_day() {
    let stack = events_stack().await;
    let email = fresh_email("late");
    let registering = correlation("register");
    assert_eq!(register_as(stack, &email, &registering).await.status, 202);
    let token = token_in(stack, &registering, "EmailVerificationRequested").await;
    let hash = identity::tokens::refresh_token_hash(&token);
    let store = shared_store(stack);
    let a_day_later = time::OffsetDateTime::now_utc() + Duration::from_secs(24 * 3600 + 1);
    assert!(!store.verify_email(&hash, a_day_later).await.unwrap());
    // Refused as expired, not spent: it still works today.
    assert_eq!(verify(stack, &token).await.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn placing_an_order_needs_a_verified_email_when_the_stack_requires_it() {
    let stack = events_stack().await;
    let email = fresh_email("buyer");
    let registering = correlation("register");
    assert_eq!(register_as(stack, &email, &registering).await.status, 202);
    let token = token_in(stack, &registering, "EmailVerificationRequested").await;
    let order = json!({"fromCart": true});
    let unverified = log_in(stack, &email, PASSWORD).await.json();
    let refused = post(
        stack,
        "/v1/orders",
        Some(access(&unverified)),
        &order,
        &correlation("order"),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(refused.json()["code"], "EMAIL_NOT_VERIFIED");

    assert_eq!(verify(stack, &token).await.status, 204);
    let verified = log_in(stack, &email, PASSWORD).await.json();
    let answer = post(
        stack,
        "/v1/orders",
        Some(access(&verified)),
        &order,
        &correlation("order"),
    )
    .await;
    assert_ne!(
        answer.json()["code"],
        "EMAIL_NOT_VERIFIED",
        "{}",
        answer.text()
    );
    assert_ne!(answer.status, 403, "{}", answer.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_request_answers_alike_for_any_email_and_mails_only_an_account_once_a_minute() {
    let stack = events_stack().await;
    let (email, _) = signed_up_on(stack, "forgetful").await;
    let stranger = fresh_email("nobody");
    let (for_stranger, for_owner, again) = (
        correlation("reset-unknown"),
        correlation("reset"),
        correlation("reset-again"),
    );
    let unknown = ask_reset(stack, &stranger, &for_stranger).await;
    let known = ask_reset(stack, &email, &for_owner).await;
    assert_eq!(known.status, 202, "{}", known.text());
    assert_eq!((unknown.status, &unknown.body), (known.status, &known.body));
    let token = token_in(stack, &for_owner, "PasswordResetRequested").await;
    let requested = published(stack, &for_owner, "PasswordResetRequested").await;
    assert!(!outbox_item_exists(stack, requested["id"].as_str().unwrap()).await);

    let repeated = ask_reset(stack, &email, &again).await;
    assert_eq!(
        (repeated.status, &repeated.body),
        (known.status, &known.body)
    );
    nothing_published(stack, &again, "PasswordResetRequested").await;
    nothing_published(stack, &for_stranger, "PasswordResetRequested").await;

    // Registration's verification link, then the reset link; the stranger gets nothing.
    let emails = emails_to(stack, &email, 2).await;
    let link = format!("/account/reset-password?token={token}");
    assert_eq!(
        emails.iter().filter(|e| text_of(e).contains(&link)).count(),
        1,
        "{emails:?}"
    );
    let all = local::mailbox::emails(stack.emulator_endpoint())
        .await
        .unwrap();
    assert!(!all.iter().any(|e| e.is_to(&stranger)));

    // A malformed email is a 400 about the field, as the rules are public.
    let bad = ask_reset(stack, "not-an-email", &correlation("reset-bad")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["errors"][0]["field"], "email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_token_sets_the_password_once_and_ends_every_session() {
    let stack = events_stack().await;
    let (email, first) = signed_up_on(stack, "reset").await;
    let second = log_in(stack, &email, PASSWORD).await.json();
    let asking = correlation("reset");
    assert_eq!(ask_reset(stack, &email, &asking).await.status, 202);
    let token = token_in(stack, &asking, "PasswordResetRequested").await;

    assert_invalid_token(
        &confirm_reset(stack, &identity::tokens::new_refresh_token(), NEW_PASSWORD).await,
    );
    let weak = confirm_reset(stack, &token, "short").await;
    assert_eq!(weak.status, 400, "{}", weak.text());
    assert_eq!(weak.json()["errors"][0]["field"], "newPassword");

    let confirming = correlation("confirm");
    let confirmed = post(
        stack,
        "/v1/auth/password-reset/confirm",
        None,
        &json!({"token": token, "newPassword": NEW_PASSWORD}),
        &confirming,
    )
    .await;
    assert_eq!(confirmed.status, 204, "{}", confirmed.text());
    assert_invalid_token(&confirm_reset(stack, &token, "yet another passphrase").await);

    for session in [&first, &second] {
        let refreshed = refresh_on(stack, session["refreshToken"].as_str().unwrap()).await;
        assert_eq!(refreshed.status, 401, "{}", refreshed.text());
        assert_eq!(refreshed.json()["code"], "SESSION_REVOKED");
    }
    assert_eq!(log_in(stack, &email, PASSWORD).await.status, 401);
    let after = log_in(stack, &email, NEW_PASSWORD).await;
    assert_eq!(after.status, 200, "{}", after.text());
    // The link proved the address.
    assert_eq!(
        profile_of(stack, access(&after.json())).await["emailVerified"],
        true
    );

    let changed = published(stack, &confirming, "PasswordChanged").await;
    assert_eq!(changed["data"]["how"], "RESET");
    let emails = emails_to(stack, &email, 3).await;
    assert!(
        emails
            .iter()
            .any(|e| e.subject.contains("password was changed")),
        "{emails:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_token_expires_after_thirty_minutes_and_dies_with_a_password_change() {
    let stack = events_stack().await;
    let (email, tokens) = signed_up_on(stack, "expiry").await;
    let asking = correlation("reset");
    assert_eq!(ask_reset(stack, &email, &asking).await.status, 202);
    let token = token_in(stack, &asking, "PasswordResetRequested").await;
    let hash = identity::tokens::refresh_token_hash(&token);
    let store = shared_store(stack);
    let now = time::OffsetDateTime::now_utc();
    assert!(store.pending_reset(&hash, now).await.unwrap().is_some());
    let later = now + Duration::from_secs(30 * 60 + 1);
    assert!(store.pending_reset(&hash, later).await.unwrap().is_none());

    // A password change since the token was sent supersedes it.
    let changed = change_password(
        stack,
        access(&tokens),
        PASSWORD,
        NEW_PASSWORD,
        &correlation("change"),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_invalid_token(&confirm_reset(stack, &token, "yet another passphrase").await);
    assert_eq!(log_in(stack, &email, NEW_PASSWORD).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changing_the_password_ends_the_other_sessions_and_gives_the_caller_a_new_pair() {
    let stack = events_stack().await;
    let (email, mine) = signed_up_on(stack, "change").await;
    let other = log_in(stack, &email, PASSWORD).await.json();
    let token = access(&mine);

    let same = change_password(stack, token, PASSWORD, PASSWORD, &correlation("same")).await;
    assert_eq!(same.status, 400, "{}", same.text());
    assert_eq!(same.json()["errors"][0]["field"], "newPassword");
    let weak = change_password(stack, token, PASSWORD, "short", &correlation("weak")).await;
    assert_eq!(weak.status, 400, "{}", weak.text());
    assert_eq!(weak.json()["errors"][0]["field"], "newPassword");
    let wrong = change_password(
        stack,
        token,
        "not my password",
        NEW_PASSWORD,
        &correlation("wrong"),
    )
    .await;
    assert_eq!(wrong.status, 403, "{}", wrong.text());
    assert_eq!(wrong.json()["code"], "INVALID_PASSWORD");
    let unknown_field = post(
        stack,
        "/v1/users/me/password",
        Some(token),
        &json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "userId": "someone"}),
        &correlation("junk"),
    )
    .await;
    assert_eq!(unknown_field.status, 400);

    let changing = correlation("change");
    let changed = change_password(stack, token, PASSWORD, NEW_PASSWORD, &changing).await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(changed.header("cache-control"), Some("no-store"));
    let pair = changed.json();
    assert_eq!(pair["tokenType"], "Bearer");
    assert_eq!(pair["user"]["id"], mine["user"]["id"]);

    for session in [&mine, &other] {
        let refreshed = refresh_on(stack, session["refreshToken"].as_str().unwrap()).await;
        assert_eq!(refreshed.status, 401, "{}", refreshed.text());
        assert_eq!(refreshed.json()["code"], "SESSION_REVOKED");
    }
    let renewed = refresh_on(stack, pair["refreshToken"].as_str().unwrap()).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text());
    assert_eq!(
        profile_of(stack, access(&renewed.json())).await["email"],
        email.as_str()
    );
    assert_eq!(log_in(stack, &email, PASSWORD).await.status, 401);
    assert_eq!(log_in(stack, &email, NEW_PASSWORD).await.status, 200);

    let event = published(stack, &changing, "PasswordChanged").await;
    assert_eq!(event["data"]["how"], "CHANGED");
    assert_eq!(event["data"]["email"], email.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guesses_at_the_current_password_are_throttled_like_logins() {
    let stack = events_stack().await;
    let (_, tokens) = signed_up_on(stack, "guess").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let answer = change_password(
            stack,
            access(&tokens),
            "a wrong guess",
            NEW_PASSWORD,
            &correlation("guess"),
        )
        .await;
        statuses.push(answer.status);
        if answer.status == 429 {
            assert!(answer.header("retry-after").is_some());
        }
    }
    assert_eq!(statuses, [403, 403, 403, 403, 403, 429]);
    // Locked, the right password is not even checked.
    let locked = change_password(
        stack,
        access(&tokens),
        PASSWORD,
        NEW_PASSWORD,
        &correlation("locked"),
    )
    .await;
    assert_eq!(locked.status, 429, "{}", locked.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_answers_are_never_cached() {
    let stack = events_stack().await;
    let (email, _) = signed_up_on(stack, "cache").await;
    let login = log_in(stack, &email, PASSWORD).await;
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert_eq!(login.header("pragma"), Some("no-cache"));
    let refreshed = refresh_on(stack, login.json()["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(refreshed.header("cache-control"), Some("no-store"));
    assert_eq!(refreshed.header("pragma"), Some("no-cache"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provisioned_admin_changing_the_initial_password_retires_its_secret() {
    use identity::handlers::{bootstrap_admin, custom_resource};
    let stack = events_stack().await;
    let store = shared_store(stack);
    let secrets = aws_sdk_secretsmanager::Client::new(stack.sdk_config());
    let secret_id = "test/admin-initial-password";
    let read_secret = || async {
        secrets
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap()
            .to_owned()
    };
    assert_eq!(read_secret().await, ADMIN_PASSWORD);

    // A second provisioned admin, so the shared stack's first admin keeps its password.
    let email = fresh_email("operator");
    let hash = identity::password::Hasher::new(identity::password::Cost::default())
        .unwrap()
        .hash(ADMIN_PASSWORD)
        .unwrap();
    let now = shared::time::now_rfc3339();
    store
        .ensure_first_admin(&email, &hash, &now, &correlation("provision"))
        .await
        .unwrap();
    let admin = log_in(stack, &email, ADMIN_PASSWORD).await.json();
    let changed = change_password(
        stack,
        access(&admin),
        ADMIN_PASSWORD,
        NEW_PASSWORD,
        &correlation("change"),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    let retired = read_secret().await;
    assert!(
        identity::initial_password::is_retired(&retired),
        "{retired}"
    );
    assert_eq!(log_in(stack, &email, ADMIN_PASSWORD).await.status, 401);

    // A later deployment still succeeds: the admin exists, so the secret is not needed.
    let bootstrap = bootstrap_admin::Bootstrap {
        store,
        hasher: identity::password::Hasher::new(identity::password::Cost::default()).unwrap(),
        secrets: secrets.clone(),
        http: custom_resource::https_client().unwrap(),
    };
    let (url, answer) = answer_sink().await;
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/bootstrap-admin.json")).unwrap();
    event["RequestType"] = json!("Update");
    event["ResponseURL"] = json!(url);
    event["PhysicalResourceId"] = json!(format!("first-admin/{ADMIN_EMAIL}"));
    event["ResourceProperties"]["Email"] = json!(ADMIN_EMAIL);
    event["ResourceProperties"]["PasswordSecretArn"] = json!(secret_id);
    event["OldResourceProperties"] = event["ResourceProperties"].clone();
    assert_eq!(
        bootstrap_admin::handle(&bootstrap, event).await.unwrap(),
        "SUCCESS"
    );
    let answer: Value = serde_json::from_str(&answer.await.unwrap()).unwrap();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(log_in(stack, ADMIN_EMAIL, ADMIN_PASSWORD).await.status, 200);
}
