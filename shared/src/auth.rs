//! Who is calling: the caller the API's Lambda authorizer vouched for, and role checks.
//!
//! Protected routes sit behind the identity service's authorizer, which verifies the access token and
//! hands API Gateway a context of `userId` and `role`. API Gateway passes that context to the route's
//! function in `requestContext.authorizer.lambda`; [`Caller::from_request`] reads it back.
//!
//! ```no_run
//! use lambda_http::{Body, Request, Response};
//! use shared::{ApiError, RequestContext, auth::{Caller, Role}, http};
//!
//! async fn handler(_state: &(), req: Request, ctx: &RequestContext) -> Result<Response<Body>, ApiError> {
//!     let caller = Caller::from_request(&req)?;
//!     caller.require_any(&[Role::Seller, Role::Admin])?;
//!     http::ok(ctx, &serde_json::json!({"you": caller.user_id}))
//! }
//! ```

use std::{fmt, str::FromStr};

use lambda_http::{Request, RequestExt as _, request::RequestContext as LambdaRequestContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ApiError;

/// Key of the user id in the authorizer context.
pub const CONTEXT_USER_ID: &str = "userId";
/// Key of the role in the authorizer context.
pub const CONTEXT_ROLE: &str = "role";
/// Key of the email-verified flag (a boolean) in the authorizer context.
pub const CONTEXT_EMAIL_VERIFIED: &str = "emailVerified";

/// What a user may do. Every new account is a [`Role::Customer`]; only an admin changes roles.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Buys things: carts, orders, their own profile.
    Customer,
    /// Also sells: manages their own products and inventory.
    Seller,
    /// Runs the shop: categories, refunds, roles.
    Admin,
}

impl Role {
    /// Every role, in increasing privilege.
    pub const ALL: [Self; 3] = [Self::Customer, Self::Seller, Self::Admin];

    /// The lowercase name used in tokens, contexts and JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Seller => "seller",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected customer, seller or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The user's id (the access token's `sub`).
    pub user_id: Uuid,
    /// The user's role when the access token was issued.
    pub role: Role,
    /// Whether the user's email was verified when the access token was issued (false for tokens
    /// that do not say).
    pub email_verified: bool,
}

impl Caller {
    /// Reads the caller from the authorizer context API Gateway attached to the request.
    ///
    /// # Errors
    /// 401 `UNAUTHORIZED` when the request carries no usable authorizer context. Behind the authorizer
    /// that cannot happen; it guards a route deployed without one.
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        let fields = match req.request_context_ref() {
            Some(LambdaRequestContext::ApiGatewayV2(ctx)) => {
                ctx.authorizer.as_ref().map(|a| &a.fields)
            }
            _ => None,
        };
        let unauthorized = || ApiError::unauthorized("This route requires a valid access token.");
        let fields = fields.ok_or_else(unauthorized)?;
        let text = |key: &str| fields.get(key).and_then(serde_json::Value::as_str);
        let user_id = text(CONTEXT_USER_ID)
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(unauthorized)?;
        let role = text(CONTEXT_ROLE)
            .and_then(|role| role.parse().ok())
            .ok_or_else(unauthorized)?;
        let email_verified = fields
            .get(CONTEXT_EMAIL_VERIFIED)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        Ok(Self {
            user_id,
            role,
            email_verified,
        })
    }

    /// Whether the caller has `role`.
    #[must_use]
    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }

    /// Succeeds when the caller has one of `roles`.
    ///
    /// # Errors
    /// 403 `FORBIDDEN` otherwise.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "This action needs the role {}.",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )))
        }
    }

    /// Succeeds when the caller is an admin.
    ///
    /// # Errors
    /// 403 `FORBIDDEN` otherwise.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require_any(&[Role::Admin])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with_context(lambda: serde_json::Value) -> Request {
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "GET /v1/users/me",
            "rawPath": "/v1/users/me",
            "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api",
                "authorizer": {"lambda": lambda},
                "domainName": "localhost",
                "domainPrefix": "localhost",
                "http": {"method": "GET", "path": "/v1/users/me", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
                "requestId": "req-1",
                "routeKey": "GET /v1/users/me",
                "stage": "$default",
                "time": "22/Nov/2026:10:00:00 +0000",
                "timeEpoch": 0
            },
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn the_caller_comes_from_the_authorizer_context() {
        let id = Uuid::now_v7();
        let req =
            request_with_context(serde_json::json!({"userId": id.to_string(), "role": "seller"}));
        let caller = Caller::from_request(&req).unwrap();
        assert_eq!(caller.user_id, id);
        assert_eq!(caller.role, Role::Seller);
        assert!(
            !caller.email_verified,
            "a context without the flag is unverified"
        );
        let verified = request_with_context(
            serde_json::json!({"userId": id.to_string(), "role": "customer", "emailVerified": true}),
        );
        assert!(Caller::from_request(&verified).unwrap().email_verified);
        assert!(caller.require_any(&[Role::Seller, Role::Admin]).is_ok());
        assert_eq!(caller.require_admin().unwrap_err().status(), 403);
    }

    #[test]
    fn a_missing_or_malformed_context_is_unauthorized() {
        let id = Uuid::now_v7().to_string();
        for lambda in [
            serde_json::json!({}),
            serde_json::json!({"userId": "not-a-uuid", "role": "admin"}),
            serde_json::json!({"userId": id, "role": "root"}),
            serde_json::json!({"userId": id}),
        ] {
            let err = Caller::from_request(&request_with_context(lambda)).unwrap_err();
            assert_eq!(err.status(), 401);
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::json!(role.as_str())
            );
        }
        assert!("Admin".parse::<Role>().is_err());
    }
}
