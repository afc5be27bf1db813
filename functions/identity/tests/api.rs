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
    assert_eq!(register(stack, email).await.status, 201);
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
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.header("location"), Some("/v1/users/me"));
    let profile = created.json();
    assert_eq!(profile["email"], "grace.hopper@example.com");
    assert_eq!(profile["role"], "customer");
    assert!(profile.get("passwordHash").is_none());

    let again = register(&stack, "grace.hopper@example.com").await;
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["code"], "EMAIL_TAKEN");

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
    assert_eq!(me.json()["id"], profile["id"]);

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
async fn of_concurrent_registrations_of_one_email_exactly_one_succeeds() {
    let stack = stack().await;
    let answers = futures::future::join_all((0..6).map(|i| {
        register(
            &stack,
            if i % 2 == 0 {
                "twin@example.com"
            } else {
                "TWIN@example.com"
            },
        )
    }))
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);
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
    for (target, role) in [(&deputy_id, "admin"), (&root_id, "customer")] {
        let answer = put_role(&stack, Some(access(&deputy_admin)), target, role).await;
        assert_eq!(answer.status, 403, "{}", answer.text());
    }
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

/// The stack shared by the user event tests: the same template and parameters as [`stack`].
async fn events_stack() -> &'static testing::SharedStack {
    testing::shared_stack(|options| {
        let overrides = &mut options.parameter_overrides;
        overrides.insert("AdminEmail".into(), ADMIN_EMAIL.into());
        overrides.insert("AdminPassword".into(), ADMIN_PASSWORD.into());
        overrides.insert("RefreshGraceSeconds".into(), GRACE_SECS.to_string());
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
    assert_eq!(created.status, 201, "{}", created.text());
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

/// The one event published with `correlation_id`, once it arrived; it matches its schema.
async fn published(stack: &testing::SharedStack, correlation_id: &str) -> Value {
    let seen = testing::eventually(Duration::from_secs(30), correlation_id, || async {
        let seen = stack.events().by_correlation(correlation_id);
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
    let event = published(stack, &registering).await;
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
    let event = published(stack, &adding).await;
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
    let event = published(stack, &opting_out).await;
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
        published(stack, &naming).await,
        published(stack, &phoning).await,
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
    let table = stack
        .model()
        .tables
        .iter()
        .find(|t| t.logical_id == "IdentityTable")
        .unwrap()
        .name
        .clone();
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
    let event = published(stack, &changing).await;
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
    published(stack, &changing).await;
    let identity_events: Vec<_> = stack
        .events()
        .events()
        .into_iter()
        .filter(|e| ["UserRegistered", "UserChanged"].contains(&e.event_type()))
        .collect();
    assert!(identity_events.len() >= 2);
    let broken: Vec<_> = identity_events
        .iter()
        .filter(|e| !e.problems.is_empty())
        .collect();
    assert!(broken.is_empty(), "{broken:?}");
}
